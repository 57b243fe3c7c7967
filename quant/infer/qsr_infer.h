/* qsr_infer: the inference-only library (docs/EMBEDDED.md).
 *
 * It runs a quantised ESPCN model, lowered ahead of time by `qsr export --format engine`, on
 * the integer engine's kernels (scalar, AVX2, AVX-512 VNNI; the same codes bit for bit as
 * `qsr`'s integer engine). It has no autograd or training, no image codecs, no threads and
 * no OpenMP; it is compiled without exceptions and RTTI; it allocates nothing:
 *
 *   - the model is read in place from the caller's bytes (a file read into memory, or a
 *     const array in flash), which must stay valid while the model is used;
 *   - a run takes one caller-owned arena, whose size qsr_infer_arena_bytes() gives for the
 *     image width and the band height; it does not depend on the image height, because
 *     the network streams rows (each activation lives in a window of band + k rows).
 *
 * A model may be shared by any number of concurrent runs, each with its own arena.
 * Every function returns QSR_INFER_OK (0) or a negative status; qsr_infer_strerror()
 * names it in one line. The API is C (C99) and so is the example
 * (quant/infer/example_upscale.c).
 */
#ifndef QSR_INFER_H
#define QSR_INFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum qsr_infer_status {
  QSR_INFER_OK = 0,
  QSR_INFER_E_ARG = -1,       /* a null pointer, or a width, height or band out of range */
  QSR_INFER_E_MAGIC = -2,     /* not a qsr inference model (qsr export --format engine) */
  QSR_INFER_E_VERSION = -3,   /* written by a newer qsr: format version not supported */
  QSR_INFER_E_SIZE = -4,      /* the byte count differs from the model's own (truncated?) */
  QSR_INFER_E_CHECKSUM = -5,  /* the checksum does not match: the file is corrupt */
  QSR_INFER_E_MODEL = -6,     /* a layer record is inconsistent */
  QSR_INFER_E_ALIGN = -7,     /* the model bytes or the arena are not 16-byte aligned */
  QSR_INFER_E_ARENA = -8,     /* the arena is smaller than qsr_infer_arena_bytes() */
  QSR_INFER_E_CALLBACK = -9,  /* a row callback returned non-zero */
  QSR_INFER_E_ISA = -10       /* QSR_ISA names an ISA this CPU or library cannot run, or not the model's */
};

/* One line naming a status. */
const char* qsr_infer_strerror(int status);

/* Flags of qsr_infer_open. */
#define QSR_INFER_FORCE_SCALAR 1u /* run the scalar kernels even where SIMD ones could */

/* A model opened in place: caller-owned storage, no allocation. Its fields are private. */
typedef struct qsr_infer_model {
  union {
    double align_;
    void* ptr_;
    unsigned char bytes[4096];
  } opaque;
} qsr_infer_model;

/* Checks `bytes` bytes at `data` (16-byte aligned) and opens them as a model. */
int qsr_infer_open(qsr_infer_model* model, const void* data, size_t bytes, unsigned flags);

typedef struct qsr_infer_info {
  int convs;             /* number of conv layers */
  int scale;             /* upscaling factor r: the output is (r*height) x (r*width) */
  int channels;          /* image channels (1: luma) */
  const char* mode;      /* the quantisation mode, e.g. "int8", "int16x8", "w4a4" */
  const char* lowered;   /* the kernel layouts it was lowered for: "avx2", "scalar", "avx512-vnni" */
  const char* kernels;   /* the kernels that run it here: "avx2", "avx512-vnni" or "scalar" */
  size_t model_bytes;    /* the whole model, packed weights included */
} qsr_infer_info;
int qsr_infer_get_info(const qsr_infer_model* model, qsr_infer_info* info);

/* The default band: output rows computed per step (speed against arena). */
#define QSR_INFER_DEFAULT_BAND 8

/* Arena bytes for images `width` low-res pixels wide, computed `band` rows at a time
 * (0: QSR_INFER_DEFAULT_BAND); 0 for impossible arguments. */
size_t qsr_infer_arena_bytes(const qsr_infer_model* model, int width, int band);

/* Streaming: read_row fills `row` with low-res row y (width * channels floats, [0, 1]),
 * write_row receives high-res row y (scale * width * channels floats). Rows are read and
 * written in order, each once; a non-zero return stops the run with QSR_INFER_E_CALLBACK. */
typedef int (*qsr_infer_read_row)(void* ctx, int y, float* row);
typedef int (*qsr_infer_write_row)(void* ctx, int y, const float* row);
int qsr_infer_run_rows(const qsr_infer_model* model, int width, int height, int band, qsr_infer_read_row read_row,
                       qsr_infer_write_row write_row, void* ctx, void* arena, size_t arena_bytes);

/* Whole images, float: `in` height x width x channels, `out` (r*height) x (r*width) x channels,
 * values in [0, 1] (the output is not clamped), rows packed. */
int qsr_infer_run_f32(const qsr_infer_model* model, const float* in, int width, int height, float* out, int band,
                      void* arena, size_t arena_bytes);

/* Whole images, 8-bit: samples / 255 in, round(clamp(v, 0, 1) * 255) out (as `qsr upscale`);
 * strides in bytes between rows (0: packed). */
int qsr_infer_run_u8(const qsr_infer_model* model, const uint8_t* in, int width, int height, size_t in_stride,
                     uint8_t* out, size_t out_stride, int band, void* arena, size_t arena_bytes);

#ifdef __cplusplus
}
#endif

#endif /* QSR_INFER_H */
