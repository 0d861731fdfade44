/* safetensors.h: reading and writing safetensors files (checkpoints PyTorch users can load).
 *
 * Layout (see shared/FORMATS.md): u64 little-endian header length N, N bytes of
 * UTF-8 JSON {"name": {"dtype", "shape", "data_offsets": [begin, end)}, ...,
 * "__metadata__": {string: string}}, then the data area that offsets count from.
 * The writer pads the header with spaces to a multiple of 8, as the reference
 * writer does, and lays tensors out in the order given, back to back (list the
 * widest dtypes first if readers should find every tensor aligned in the file;
 * the reference writer sorts that way).
 * Tensor data is little-endian, row-major; this code assumes a little-endian host.
 *
 * The reader loads the whole file and validates all of it before returning a
 * handle, so every accessor afterwards works on a known-good file. */
#ifndef SMBRL_SAFETENSORS_H
#define SMBRL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum st_dtype {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_F8_E5M2,
    ST_F8_E4M3,
    ST_I16,
    ST_U16,
    ST_F16,
    ST_BF16,
    ST_I32,
    ST_U32,
    ST_F32,
    ST_I64,
    ST_U64,
    ST_F64,
    ST_DTYPE_COUNT
} st_dtype;

/* Largest header the reader accepts, as the reference implementation does. */
#define ST_MAX_HEADER 100000000u
/* Most dimensions a tensor may have (a sanity bound; the format itself has none). */
#define ST_MAX_DIMS 64

/* Name as it appears in the header ("F32"), or NULL for an invalid value. */
const char *st_dtype_name(st_dtype t);
/* Bytes per element, or 0 for an invalid value. */
size_t st_dtype_size(st_dtype t);
/* Parses "F32" etc.; returns 0 and sets *out, or -1 when unknown. */
int st_dtype_parse(const char *name, st_dtype *out);

/* One tensor to write. data holds numel * st_dtype_size(dtype) bytes (may be
 * NULL when that is 0). ndim 0 is a scalar with one element. */
typedef struct st_tensor_desc {
    const char *name;
    st_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data;
} st_tensor_desc;

typedef struct st_kv {
    const char *key;
    const char *value;
} st_kv;

/* Writes `path` atomically: a temporary file in the same folder is written,
 * fsynced and renamed over `path`, then the folder is fsynced. A failure before
 * the rename leaves the old `path`, if any, untouched and removes the temporary;
 * only a failed folder fsync comes after it (the message says so). Metadata is
 * omitted when n_meta is 0. */
int st_write(const char *path, const st_tensor_desc *tensors, size_t n_tensors,
             const st_kv *meta, size_t n_meta, char *err, size_t errlen);

/* A tensor of an open file. data points into memory owned by the st_file (valid
 * until st_close); it is aligned only as far as its offset in the data area is
 * (the data area itself starts 16-byte aligned), so copy it or use st_read. */
typedef struct st_tensor {
    const char *name;
    st_dtype dtype;
    int ndim;
    const int64_t *shape;
    uint64_t numel;
    uint64_t nbytes;
    uint64_t offset; /* begin, relative to the data area */
    const void *data;
} st_tensor;

typedef struct st_file st_file;

/* Loads and validates `path`. Any malformed or truncated file gives a negative
 * return and a one-line reason that names the file. */
int st_open(st_file **out, const char *path, char *err, size_t errlen);
void st_close(st_file *f);

/* Tensors in header order. */
size_t st_count(const st_file *f);
const st_tensor *st_tensor_at(const st_file *f, size_t i);
/* NULL when there is no tensor of that name. */
const st_tensor *st_find(const st_file *f, const char *name);

/* Metadata value of `key`, or NULL when absent. */
const char *st_meta(const st_file *f, const char *key);
size_t st_meta_count(const st_file *f);
/* i-th metadata pair in header order; returns -1 when i is out of range. */
int st_meta_at(const st_file *f, size_t i, const char **key, const char **value);

/* Copies tensor `name` into dst after checking that it exists and has exactly
 * this dtype, ndim and shape, and that dst_bytes equals its size. */
int st_read(const st_file *f, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
            void *dst, size_t dst_bytes, char *err, size_t errlen);

#endif
