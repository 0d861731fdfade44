/* safetensors.c: the safetensors writer (atomic, reference-style padding) and a validating reader.
 *
 * The reader's checks follow the reference implementation and shared/FORMATS.md:
 * header length <= 100 MB and inside the file, UTF-8 JSON object, known dtypes,
 * end - begin == numel * dtype size, offsets that tile the data area exactly
 * (sorted by offset: no gap, no overlap, last end == data size), unique names,
 * string-only metadata. A file that passes all of them cannot make an accessor
 * read outside the loaded bytes. */
#include "util/error.h"
#include "smbrl/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c writes host-order tensor data; it needs a little-endian host"
#endif
#endif

/* Integers above 2^53 do not survive cJSON's double representation. */
#define ST_MAX_JSON_INT 9007199254740992.0

static const struct {
    const char *name;
    size_t size;
} dtype_table[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1},    [ST_U8] = {"U8", 1},   [ST_I8] = {"I8", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1},
    [ST_I16] = {"I16", 2},      [ST_U16] = {"U16", 2}, [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2},    [ST_I32] = {"I32", 4}, [ST_U32] = {"U32", 4},
    [ST_F32] = {"F32", 4},      [ST_I64] = {"I64", 8}, [ST_U64] = {"U64", 8},
    [ST_F64] = {"F64", 8},
};

const char *st_dtype_name(st_dtype t)
{
    return ((unsigned)t < ST_DTYPE_COUNT) ? dtype_table[t].name : NULL;
}

size_t st_dtype_size(st_dtype t)
{
    return ((unsigned)t < ST_DTYPE_COUNT) ? dtype_table[t].size : 0;
}

int st_dtype_parse(const char *name, st_dtype *out)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        if (strcmp(name, dtype_table[i].name) == 0) {
            *out = (st_dtype)i;
            return 0;
        }
    }
    return -1;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), and no
 * NUL byte: the header is handed to cJSON as a C string. Returns the offset of
 * the first bad byte, or len when all are good. */
static size_t utf8_check(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0)
            return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return i;
        }
        if (len - i <= n)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += n + 1;
    }
    return len;
}

static int utf8_ok(const char *s)
{
    size_t n = strlen(s);
    return utf8_check((const unsigned char *)s, n) == n;
}

static int mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

/* ---- writing ---- */

static cJSON *json_u64(uint64_t v)
{
    /* Raw text keeps integers exact; cJSON's doubles switch to exponent form past 1e15. */
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateRaw(buf);
}

static int append(cJSON *arr, cJSON *item)
{
    if (!item)
        return -1;
    if (!cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

/* Builds the unpadded header JSON; on success *total is the data area size. */
static char *build_header(const st_tensor_desc *t, size_t nt, const st_kv *meta, size_t nm,
                          uint64_t *total, char *err, size_t errlen)
{
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    uint64_t off = 0;
    if (!root)
        goto oom;
    if (nm > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        if (!m)
            goto oom;
        for (size_t i = 0; i < nm; i++) {
            if (!meta[i].key || !meta[i].value) {
                smbrl_fail(err, errlen, "metadata entry %zu has a NULL key or value", i);
                goto out;
            }
            if (!utf8_ok(meta[i].key) || !utf8_ok(meta[i].value)) {
                smbrl_fail(err, errlen, "metadata entry '%s' is not valid UTF-8", meta[i].key);
                goto out;
            }
            for (size_t j = 0; j < i; j++) {
                if (strcmp(meta[j].key, meta[i].key) == 0) {
                    smbrl_fail(err, errlen, "duplicate metadata key '%s'", meta[i].key);
                    goto out;
                }
            }
            if (!cJSON_AddStringToObject(m, meta[i].key, meta[i].value))
                goto oom;
        }
    }
    for (size_t i = 0; i < nt; i++) {
        const st_tensor_desc *d = &t[i];
        size_t esize = st_dtype_size(d->dtype);
        if (!d->name) {
            smbrl_fail(err, errlen, "tensor %zu has no name", i);
            goto out;
        }
        if (!utf8_ok(d->name)) {
            smbrl_fail(err, errlen, "tensor %zu: name is not valid UTF-8", i);
            goto out;
        }
        if (strcmp(d->name, "__metadata__") == 0) {
            smbrl_fail(err, errlen, "a tensor may not be called __metadata__");
            goto out;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(t[j].name, d->name) == 0) {
                smbrl_fail(err, errlen, "duplicate tensor name '%s'", d->name);
                goto out;
            }
        }
        if (esize == 0) {
            smbrl_fail(err, errlen, "tensor '%s': invalid dtype %d", d->name, (int)d->dtype);
            goto out;
        }
        if (d->ndim < 0 || d->ndim > ST_MAX_DIMS || (d->ndim > 0 && !d->shape)) {
            smbrl_fail(err, errlen, "tensor '%s': invalid ndim %d or missing shape", d->name, d->ndim);
            goto out;
        }
        uint64_t numel = 1, nbytes;
        for (int k = 0; k < d->ndim; k++) {
            if (d->shape[k] < 0 || (double)d->shape[k] > ST_MAX_JSON_INT) {
                smbrl_fail(err, errlen, "tensor '%s': dimension %d is %" PRId64, d->name, k, d->shape[k]);
                goto out;
            }
            if (mul_u64(numel, (uint64_t)d->shape[k], &numel) != 0) {
                smbrl_fail(err, errlen, "tensor '%s': element count overflows", d->name);
                goto out;
            }
        }
        if (mul_u64(numel, esize, &nbytes) != 0 || nbytes > UINT64_MAX - off ||
            (double)(off + nbytes) > ST_MAX_JSON_INT) {
            smbrl_fail(err, errlen, "tensor '%s': size overflows", d->name);
            goto out;
        }
        if (nbytes > 0 && !d->data) {
            smbrl_fail(err, errlen, "tensor '%s': NULL data for %" PRIu64 " bytes", d->name, nbytes);
            goto out;
        }
        cJSON *o = cJSON_AddObjectToObject(root, d->name);
        if (!o || !cJSON_AddStringToObject(o, "dtype", st_dtype_name(d->dtype)))
            goto oom;
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        if (!shape)
            goto oom;
        for (int k = 0; k < d->ndim; k++)
            if (append(shape, json_u64((uint64_t)d->shape[k])) != 0)
                goto oom;
        cJSON *offs = cJSON_AddArrayToObject(o, "data_offsets");
        if (!offs || append(offs, json_u64(off)) != 0 ||
            append(offs, json_u64(off + nbytes)) != 0)
            goto oom;
        off += nbytes;
    }
    text = cJSON_PrintUnformatted(root);
    if (!text)
        goto oom;
    *total = off;
    goto out;
oom:
    smbrl_fail(err, errlen, "out of memory building the header");
out:
    cJSON_Delete(root);
    return text;
}

static int write_all(FILE *fp, const void *p, size_t n)
{
    return (n == 0 || fwrite(p, 1, n, fp) == n) ? 0 : -1;
}

int st_write(const char *path, const st_tensor_desc *tensors, size_t n_tensors,
             const st_kv *meta, size_t n_meta, char *err, size_t errlen)
{
    char reason[256];
    uint64_t total = 0;
    char *json = build_header(tensors, n_tensors, meta, n_meta, &total, reason, sizeof reason);
    if (!json)
        return smbrl_fail(err, errlen, "%s: %s", path, reason);
    size_t jlen = strlen(json);
    size_t pad = (8 - jlen % 8) % 8;
    uint64_t hlen = (uint64_t)jlen + pad;
    if (hlen > ST_MAX_HEADER) {
        cJSON_free(json);
        return smbrl_fail(err, errlen, "%s: header of %" PRIu64 " bytes exceeds the format's limit", path, hlen);
    }

    /* Temporary in the same folder, so that rename() is atomic. */
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    const char *base = slash ? slash + 1 : path;
    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    char *dir = malloc(dlen + 2);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        cJSON_free(json);
        return smbrl_fail(err, errlen, "%s: out of memory", path);
    }
    if (slash) {
        memcpy(dir, path, dlen);
        dir[dlen] = '\0';
        if (dlen == 0)
            strcpy(dir, "/");
        snprintf(tmp, tlen, "%.*s/.%s.tmp.XXXXXX", (int)dlen, path, base);
    } else {
        strcpy(dir, ".");
        snprintf(tmp, tlen, ".%s.tmp.XXXXXX", base);
    }

    int rc = -1;
    FILE *fp = NULL;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        smbrl_fail(err, errlen, "%s: cannot create a temporary file in %s: %s", path, dir, strerror(errno));
        goto done;
    }
    /* mkstemp makes the file 0600; a checkpoint is an ordinary readable file. */
    if (fchmod(fd, 0644) != 0) {
        smbrl_fail(err, errlen, "%s: chmod of %s: %s", path, tmp, strerror(errno));
        close(fd);
        goto cleanup;
    }
    fp = fdopen(fd, "wb");
    if (!fp) {
        smbrl_fail(err, errlen, "%s: fdopen: %s", path, strerror(errno));
        close(fd);
        goto cleanup;
    }
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (unsigned char)(hlen >> (8 * i));
    static const char spaces[8] = "       ";
    int bad = write_all(fp, lenbuf, 8) || write_all(fp, json, jlen) || write_all(fp, spaces, pad);
    for (size_t i = 0; i < n_tensors && !bad; i++) {
        uint64_t numel = 1;
        for (int k = 0; k < tensors[i].ndim; k++)
            numel *= (uint64_t)tensors[i].shape[k];
        bad = write_all(fp, tensors[i].data, (size_t)(numel * st_dtype_size(tensors[i].dtype)));
    }
    if (bad || fflush(fp) != 0) {
        smbrl_fail(err, errlen, "%s: write to %s failed: %s", path, tmp, strerror(errno));
        goto cleanup;
    }
    if (fsync(fileno(fp)) != 0) {
        smbrl_fail(err, errlen, "%s: fsync of %s failed: %s", path, tmp, strerror(errno));
        goto cleanup;
    }
    int cerr = fclose(fp);
    fp = NULL;
    if (cerr != 0) {
        smbrl_fail(err, errlen, "%s: close of %s failed: %s", path, tmp, strerror(errno));
        goto cleanup;
    }
    if (rename(tmp, path) != 0) {
        smbrl_fail(err, errlen, "%s: rename from %s failed: %s", path, tmp, strerror(errno));
        goto cleanup;
    }
    /* The rename itself lives in the folder: without this fsync a crash can lose it. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || fsync(dfd) != 0) {
        smbrl_fail(err, errlen, "%s: written and renamed, but fsync of folder %s failed: %s", path, dir,
             strerror(errno));
        if (dfd >= 0)
            close(dfd);
        goto done;
    }
    close(dfd);
    rc = 0;
    goto done;
cleanup:
    if (fp)
        fclose(fp);
    unlink(tmp);
done:
    free(tmp);
    free(dir);
    cJSON_free(json);
    return rc;
}

/* ---- reading ---- */

struct st_file {
    char *path;
    cJSON *root;
    unsigned char *data; /* the data area */
    uint64_t data_size;
    st_tensor *tensors;  /* header order */
    size_t n_tensors;
    int64_t *shapes;     /* all tensors' dims, back to back */
    cJSON **meta;        /* metadata string items, header order */
    size_t n_meta;
};

void st_close(st_file *f)
{
    if (!f)
        return;
    free(f->path);
    cJSON_Delete(f->root);
    free(f->data);
    free(f->tensors);
    free(f->shapes);
    free(f->meta);
    free(f);
}

static int read_exact(FILE *fp, void *p, size_t n)
{
    return (n == 0 || fread(p, 1, n, fp) == n) ? 0 : -1;
}

/* A JSON number that is a non-negative integer cJSON holds exactly. */
static int json_uint(const cJSON *it, uint64_t *out)
{
    if (!cJSON_IsNumber(it))
        return -1;
    double v = it->valuedouble;
    if (!(v >= 0.0) || v > ST_MAX_JSON_INT || v != (double)(uint64_t)v)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Name that appears twice in names[0..n) (sorted in place), or NULL. */
static const char *find_duplicate(const char **names, size_t n)
{
    if (n < 2)
        return NULL;
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return names[i];
    return NULL;
}

static int cmp_offset(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    uint64_t xe = x->offset + x->nbytes, ye = y->offset + y->nbytes;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return (xe > ye) - (xe < ye);
}

/* Validates one tensor entry; fills t (shape written to *shape_cursor). */
static int parse_tensor(const cJSON *it, st_tensor *t, int64_t *shape, char *why, size_t wl)
{
    const char *name = it->string;
    if (!cJSON_IsObject(it))
        return smbrl_fail(why, wl, "tensor '%s' is not a JSON object", name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!cJSON_IsString(dt))
        return smbrl_fail(why, wl, "tensor '%s' has no dtype string", name);
    if (st_dtype_parse(dt->valuestring, &t->dtype) != 0)
        return smbrl_fail(why, wl, "tensor '%s' has unknown dtype '%.32s'", name, dt->valuestring);
    if (!cJSON_IsArray(sh))
        return smbrl_fail(why, wl, "tensor '%s' has no shape array", name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS)
        return smbrl_fail(why, wl, "tensor '%s' has %d dimensions (limit %d)", name, nd, ST_MAX_DIMS);
    uint64_t numel = 1;
    int k = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh)
    {
        uint64_t v;
        if (json_uint(d, &v) != 0)
            return smbrl_fail(why, wl, "tensor '%s': shape[%d] is not a non-negative integer", name, k);
        if (mul_u64(numel, v, &numel) != 0)
            return smbrl_fail(why, wl, "tensor '%s': element count overflows", name);
        shape[k++] = (int64_t)v;
    }
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
        return smbrl_fail(why, wl, "tensor '%s' has no data_offsets [begin, end]", name);
    uint64_t begin, end, nbytes;
    if (json_uint(of->child, &begin) != 0 || json_uint(of->child->next, &end) != 0)
        return smbrl_fail(why, wl, "tensor '%s': data_offsets are not non-negative integers", name);
    if (end < begin)
        return smbrl_fail(why, wl, "tensor '%s': data_offsets end %" PRIu64 " < begin %" PRIu64, name, end, begin);
    if (mul_u64(numel, st_dtype_size(t->dtype), &nbytes) != 0 || nbytes != end - begin)
        return smbrl_fail(why, wl,
                    "tensor '%s': %" PRIu64 " elements of %s need %" PRIu64 " bytes but data_offsets span %" PRIu64,
                    name, numel, st_dtype_name(t->dtype), numel * st_dtype_size(t->dtype), end - begin);
    t->name = name;
    t->ndim = nd;
    t->shape = shape;
    t->numel = numel;
    t->nbytes = nbytes;
    t->offset = begin;
    return 0;
}

/* Validates the parsed header against a data area of data_size bytes. */
static int parse_header(st_file *f, uint64_t data_size, char *why, size_t wl)
{
    const cJSON *root = f->root, *it;
    if (!cJSON_IsObject(root))
        return smbrl_fail(why, wl, "header JSON is not an object");
    size_t n = 0, ndims = 0;
    const cJSON *meta = NULL;
    cJSON_ArrayForEach(it, root)
    {
        if (strcmp(it->string, "__metadata__") == 0) {
            if (meta)
                return smbrl_fail(why, wl, "__metadata__ appears twice");
            meta = it;
            continue;
        }
        n++;
        const cJSON *sh = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "shape") : NULL;
        int nd = cJSON_IsArray(sh) ? cJSON_GetArraySize(sh) : 0;
        ndims += nd > ST_MAX_DIMS ? ST_MAX_DIMS : (size_t)nd;
    }
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->shapes = calloc(ndims ? ndims : 1, sizeof *f->shapes);
    const char **names = calloc(n ? n : 1, sizeof *names);
    st_tensor **order = calloc(n ? n : 1, sizeof *order);
    int rc = -1;
    if (!f->tensors || !f->shapes || !names || !order) {
        smbrl_fail(why, wl, "out of memory");
        goto out;
    }
    size_t i = 0, used = 0;
    cJSON_ArrayForEach(it, root)
    {
        if (it == meta)
            continue;
        if (parse_tensor(it, &f->tensors[i], f->shapes + used, why, wl) != 0)
            goto out;
        used += (size_t)f->tensors[i].ndim;
        names[i] = f->tensors[i].name;
        order[i] = &f->tensors[i];
        i++;
    }
    f->n_tensors = n;
    const char *dup = find_duplicate(names, n);
    if (dup) {
        smbrl_fail(why, wl, "tensor name '%s' appears twice", dup);
        goto out;
    }
    qsort(order, n, sizeof *order, cmp_offset);
    uint64_t pos = 0;
    for (i = 0; i < n; i++) {
        if (order[i]->offset != pos) {
            smbrl_fail(why, wl, "tensor '%s' starts at %" PRIu64 " but the previous one ends at %" PRIu64 " (%s)",
                 order[i]->name, order[i]->offset, pos, order[i]->offset > pos ? "gap" : "overlap");
            goto out;
        }
        pos += order[i]->nbytes;
    }
    if (pos != data_size) {
        smbrl_fail(why, wl, "tensors cover %" PRIu64 " bytes but the data area holds %" PRIu64, pos, data_size);
        goto out;
    }
    if (meta) {
        if (!cJSON_IsObject(meta)) {
            smbrl_fail(why, wl, "__metadata__ is not an object");
            goto out;
        }
        size_t nm = (size_t)cJSON_GetArraySize(meta);
        f->meta = calloc(nm ? nm : 1, sizeof *f->meta);
        const char **keys = calloc(nm ? nm : 1, sizeof *keys);
        if (!f->meta || !keys) {
            free(keys);
            smbrl_fail(why, wl, "out of memory");
            goto out;
        }
        size_t j = 0;
        cJSON *m;
        cJSON_ArrayForEach(m, meta)
        {
            if (!cJSON_IsString(m)) {
                free(keys);
                smbrl_fail(why, wl, "metadata '%s' is not a string", m->string);
                goto out;
            }
            keys[j] = m->string;
            f->meta[j++] = m;
        }
        f->n_meta = nm;
        dup = find_duplicate(keys, nm);
        if (dup) {
            smbrl_fail(why, wl, "metadata key '%s' appears twice", dup);
            free(keys);
            goto out;
        }
        free(keys);
    }
    rc = 0;
out:
    free(names);
    free(order);
    return rc;
}

int st_open(st_file **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    char why[320];
    int rc = -1;
    char *hdr = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return smbrl_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        smbrl_fail(why, sizeof why, "out of memory");
        goto out;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        smbrl_fail(why, sizeof why, "not a regular file");
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    unsigned char lenbuf[8];
    if (size < 8 || read_exact(fp, lenbuf, 8) != 0) {
        smbrl_fail(why, sizeof why, "file is %" PRIu64 " bytes, too short for the 8-byte header length", size);
        goto out;
    }
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n |= (uint64_t)lenbuf[i] << (8 * i);
    if (n > ST_MAX_HEADER) {
        smbrl_fail(why, sizeof why, "header length %" PRIu64 " exceeds the limit of %u", n, ST_MAX_HEADER);
        goto out;
    }
    if (n > size - 8) {
        smbrl_fail(why, sizeof why, "header length %" PRIu64 " runs past the end of the %" PRIu64 "-byte file", n, size);
        goto out;
    }
    if (n < 2) {
        smbrl_fail(why, sizeof why, "header length %" PRIu64 " is too short for a JSON object", n);
        goto out;
    }
    hdr = malloc((size_t)n + 1);
    if (!hdr) {
        smbrl_fail(why, sizeof why, "out of memory for a %" PRIu64 "-byte header", n);
        goto out;
    }
    if (read_exact(fp, hdr, (size_t)n) != 0) {
        smbrl_fail(why, sizeof why, "short read in the header");
        goto out;
    }
    hdr[n] = '\0';
    size_t bad = utf8_check((const unsigned char *)hdr, (size_t)n);
    if (bad != n) {
        smbrl_fail(why, sizeof why, "header byte %zu (file offset %zu) is not valid UTF-8 JSON text", bad, bad + 8);
        goto out;
    }
    if (hdr[0] != '{') {
        smbrl_fail(why, sizeof why, "header does not start with '{'");
        goto out;
    }
    const char *end = NULL;
    f->root = cJSON_ParseWithOpts(hdr, &end, 1);
    if (!f->root) {
        size_t at = end ? (size_t)(end - hdr) : 0;
        smbrl_fail(why, sizeof why, "header is not valid JSON (near header byte %zu)", at);
        goto out;
    }
    f->data_size = size - 8 - n;
    if (parse_header(f, f->data_size, why, sizeof why) != 0)
        goto out;
    f->data = malloc(f->data_size ? (size_t)f->data_size : 1);
    if (!f->data) {
        smbrl_fail(why, sizeof why, "out of memory for %" PRIu64 " bytes of data", f->data_size);
        goto out;
    }
    if (read_exact(fp, f->data, (size_t)f->data_size) != 0) {
        smbrl_fail(why, sizeof why, "short read in the data area (file changed while reading?)");
        goto out;
    }
    for (size_t i = 0; i < f->n_tensors; i++)
        f->tensors[i].data = f->data + f->tensors[i].offset;
    rc = 0;
out:
    free(hdr);
    fclose(fp);
    if (rc != 0) {
        smbrl_fail(err, errlen, "%s: %s", path, why);
        st_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

size_t st_count(const st_file *f) { return f->n_tensors; }

const st_tensor *st_tensor_at(const st_file *f, size_t i)
{
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const char *st_meta(const st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i]->string, key) == 0)
            return f->meta[i]->valuestring;
    return NULL;
}

size_t st_meta_count(const st_file *f) { return f->n_meta; }

int st_meta_at(const st_file *f, size_t i, const char **key, const char **value)
{
    if (i >= f->n_meta)
        return -1;
    *key = f->meta[i]->string;
    *value = f->meta[i]->valuestring;
    return 0;
}

static void format_shape(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int k = 0; k < ndim && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%" PRId64, k ? "," : "", shape[k]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

int st_read(const st_file *f, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
            void *dst, size_t dst_bytes, char *err, size_t errlen)
{
    const st_tensor *t = st_find(f, name);
    if (!t)
        return smbrl_fail(err, errlen, "%s: no tensor '%s'", f->path, name);
    if (t->dtype != dtype)
        return smbrl_fail(err, errlen, "%s: tensor '%s' is %s, expected %s", f->path, name,
                    st_dtype_name(t->dtype), st_dtype_name(dtype) ? st_dtype_name(dtype) : "?");
    int same = t->ndim == ndim;
    for (int k = 0; same && k < ndim; k++)
        same = t->shape[k] == shape[k];
    if (!same) {
        char have[128], want[128];
        format_shape(have, sizeof have, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim, shape);
        return smbrl_fail(err, errlen, "%s: tensor '%s' has shape %s, expected %s", f->path, name, have, want);
    }
    if (t->nbytes != dst_bytes)
        return smbrl_fail(err, errlen, "%s: tensor '%s' holds %" PRIu64 " bytes, destination %zu", f->path, name,
                    t->nbytes, dst_bytes);
    if (dst_bytes)
        memcpy(dst, t->data, dst_bytes);
    return 0;
}
