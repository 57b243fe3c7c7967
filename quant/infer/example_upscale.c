/* A raw 8-bit luma image upscaled with the inference-only library (qsr_infer.h).
 *
 *   qsr_infer_example MODEL IN.raw WIDTH HEIGHT OUT.raw [--band N] [--scalar]
 *
 * MODEL comes from `qsr export --format engine`; IN.raw holds WIDTH x HEIGHT bytes (row by
 * row, no header); OUT.raw receives (r*WIDTH) x (r*HEIGHT) bytes, written to a temporary
 * file and renamed. The library itself allocates nothing: this program reads the model and
 * the image into memory and gives the library one arena. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant/infer/qsr_infer.h"

static void die(const char* what, const char* detail) {
  fprintf(stderr, "qsr_infer_example: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

/* A 64-byte aligned block of n bytes; *raw is what to free. */
static unsigned char* alloc64(size_t n, void** raw) {
  unsigned char* p = (unsigned char*)malloc(n + 64);
  if (!p) die("out of memory", NULL);
  *raw = p;
  return p + (64 - (uintptr_t)p % 64) % 64;
}

/* The whole file into a 64-byte aligned block. */
static unsigned char* read_file(const char* path, size_t* size, void** raw) {
  FILE* f = fopen(path, "rb");
  if (!f) die("cannot open", path);
  if (fseek(f, 0, SEEK_END) != 0) die("cannot read", path);
  long n = ftell(f);
  if (n < 0 || fseek(f, 0, SEEK_SET) != 0) die("cannot read", path);
  unsigned char* p = alloc64((size_t)n, raw);
  if (fread(p, 1, (size_t)n, f) != (size_t)n) die("cannot read", path);
  fclose(f);
  *size = (size_t)n;
  return p;
}

static int parse_int(const char* s, const char* what) {
  char* end = NULL;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < 1 || v > 65536) {
    fprintf(stderr, "qsr_infer_example: %s must be an integer in [1, 65536], got '%s'\n", what, s);
    exit(2);
  }
  return (int)v;
}

int main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr,
            "usage: %s MODEL IN.raw WIDTH HEIGHT OUT.raw [--band N] [--scalar]\n"
            "  MODEL   a model from `qsr export --format engine`\n"
            "  IN.raw  WIDTH x HEIGHT 8-bit luma samples, row by row\n"
            "  OUT.raw the upscaled luma, (r*WIDTH) x (r*HEIGHT) bytes\n"
            "  --band N  output rows computed per step (default %d; the arena grows with it)\n"
            "  --scalar  run the scalar kernels\n",
            argv[0], QSR_INFER_DEFAULT_BAND);
    return 2;
  }
  const int w = parse_int(argv[3], "WIDTH"), h = parse_int(argv[4], "HEIGHT");
  int band = 0;
  unsigned flags = 0;
  for (int i = 6; i < argc; ++i) {
    if (strcmp(argv[i], "--band") == 0 && i + 1 < argc) band = parse_int(argv[++i], "--band");
    else if (strcmp(argv[i], "--scalar") == 0) flags |= QSR_INFER_FORCE_SCALAR;
    else {
      fprintf(stderr, "qsr_infer_example: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }

  void *model_raw, *in_raw, *out_raw, *arena_raw;
  size_t model_size, in_size;
  unsigned char* model_bytes = read_file(argv[1], &model_size, &model_raw);
  qsr_infer_model model;
  int rc = qsr_infer_open(&model, model_bytes, model_size, flags);
  if (rc != QSR_INFER_OK) die(argv[1], qsr_infer_strerror(rc));
  qsr_infer_info info;
  qsr_infer_get_info(&model, &info);
  if (info.channels != 1) die(argv[1], "the model is not a one-channel (luma) model");

  unsigned char* in = read_file(argv[2], &in_size, &in_raw);
  if (in_size != (size_t)w * (size_t)h) {
    fprintf(stderr, "qsr_infer_example: %s holds %zu bytes, not WIDTH x HEIGHT = %zu\n", argv[2], in_size, (size_t)w * h);
    return 1;
  }
  const size_t ow = (size_t)w * info.scale, oh = (size_t)h * info.scale;
  unsigned char* out = alloc64(ow * oh, &out_raw);
  const size_t arena_bytes = qsr_infer_arena_bytes(&model, w, band);
  if (arena_bytes == 0) die("impossible width or band", NULL);
  unsigned char* arena = alloc64(arena_bytes, &arena_raw);

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  rc = qsr_infer_run_u8(&model, in, w, h, 0, out, 0, band, arena, arena_bytes);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (rc != QSR_INFER_OK) die("inference failed", qsr_infer_strerror(rc));

  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", argv[5]) >= (int)sizeof tmp) die("output path too long", argv[5]);
  FILE* f = fopen(tmp, "wb");
  if (!f) die("cannot write", tmp);
  if (fwrite(out, 1, ow * oh, f) != ow * oh || fclose(f) != 0) {
    remove(tmp);
    die("cannot write", tmp);
  }
  if (rename(tmp, argv[5]) != 0) {
    remove(tmp);
    die("cannot rename to", argv[5]);
  }
  printf("%dx%d -> %zux%zu, model %s (%zu bytes, %d convs, lowered for %s), %s kernels, arena %zu bytes (band %d), %.1f ms\n", w,
         h, ow, oh, info.mode, info.model_bytes, info.convs, info.lowered, info.kernels, arena_bytes,
         band ? band : QSR_INFER_DEFAULT_BAND, 1e3 * (double)(t1.tv_sec - t0.tv_sec) + 1e-6 * (double)(t1.tv_nsec - t0.tv_nsec));
  free(model_raw);
  free(in_raw);
  free(out_raw);
  free(arena_raw);
  return 0;
}
