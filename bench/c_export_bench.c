/* Times an exported model's forward (qsr export --format c, NAME = espcn) on a W x H low-res
   frame of pseudo-random codes: median of RUNS runs after one warm-up, in ms.
   cc -std=c99 -O2 -I DIR DIR/espcn.c bench/c_export_bench.c -o bench_c && ./bench_c 640 360 7 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "espcn.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  const int w = argc > 1 ? atoi(argv[1]) : 640, h = argc > 2 ? atoi(argv[2]) : 360, runs = argc > 3 ? atoi(argv[3]) : 7;
  size_t i, n = (size_t)w * h * ESPCN_CHANNELS, arena_bytes = ESPCN_ARENA_BYTES(w);
  espcn_in_t *in = malloc(n * sizeof *in);
  espcn_out_t *out = malloc(n * ESPCN_SCALE * ESPCN_SCALE * sizeof *out);
  void *arena = malloc(arena_bytes);
  double *t = malloc((size_t)runs * sizeof *t);
  unsigned s = 12345;
  int r;
  if (!in || !out || !arena || !t || runs < 1) return 2;
  for (i = 0; i < n; ++i) {
    s = s * 1103515245u + 12345u;
    in[i] = (espcn_in_t)(ESPCN_IN_ZERO_POINT + (int)((s >> 16) % 200));
  }
  if (espcn_forward(in, w, h, out, arena, arena_bytes) != 0) return 3;
  for (r = 0; r < runs; ++r) {
    const double t0 = now_ms();
    espcn_forward(in, w, h, out, arena, arena_bytes);
    t[r] = now_ms() - t0;
  }
  qsort(t, (size_t)runs, sizeof *t, cmp);
  printf("exported C forward, %dx%d low-res: median %.2f ms over %d runs (arena %lu bytes)\n", w, h, t[runs / 2], runs,
         (unsigned long)arena_bytes);
  return 0;
}
