/* tblog.c: TensorBoard event-file writer (TFRecord framing, masked CRC-32C, Event protobuf) and reader.
 *
 * The Event and Summary messages come from tensorboard.proto through protoc-c; the
 * framing and the CRC are here. A write error is sticky: once a record could not be
 * written the file may hold a partial record, so later calls fail with the first
 * reason instead of appending after it. */
#include "util/error.h"
#include "smbrl/tblog.h"

#include "tensorboard.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Byte-at-a-time table for the reflected Castagnoli polynomial 0x82F63B78:
 * entry i is the CRC register after shifting in the 8 bits of i. */
static const uint32_t crc32c_table[256] = {
    0x00000000u, 0xF26B8303u, 0xE13B70F7u, 0x1350F3F4u, 0xC79A971Fu, 0x35F1141Cu,
    0x26A1E7E8u, 0xD4CA64EBu, 0x8AD958CFu, 0x78B2DBCCu, 0x6BE22838u, 0x9989AB3Bu,
    0x4D43CFD0u, 0xBF284CD3u, 0xAC78BF27u, 0x5E133C24u, 0x105EC76Fu, 0xE235446Cu,
    0xF165B798u, 0x030E349Bu, 0xD7C45070u, 0x25AFD373u, 0x36FF2087u, 0xC494A384u,
    0x9A879FA0u, 0x68EC1CA3u, 0x7BBCEF57u, 0x89D76C54u, 0x5D1D08BFu, 0xAF768BBCu,
    0xBC267848u, 0x4E4DFB4Bu, 0x20BD8EDEu, 0xD2D60DDDu, 0xC186FE29u, 0x33ED7D2Au,
    0xE72719C1u, 0x154C9AC2u, 0x061C6936u, 0xF477EA35u, 0xAA64D611u, 0x580F5512u,
    0x4B5FA6E6u, 0xB93425E5u, 0x6DFE410Eu, 0x9F95C20Du, 0x8CC531F9u, 0x7EAEB2FAu,
    0x30E349B1u, 0xC288CAB2u, 0xD1D83946u, 0x23B3BA45u, 0xF779DEAEu, 0x05125DADu,
    0x1642AE59u, 0xE4292D5Au, 0xBA3A117Eu, 0x4851927Du, 0x5B016189u, 0xA96AE28Au,
    0x7DA08661u, 0x8FCB0562u, 0x9C9BF696u, 0x6EF07595u, 0x417B1DBCu, 0xB3109EBFu,
    0xA0406D4Bu, 0x522BEE48u, 0x86E18AA3u, 0x748A09A0u, 0x67DAFA54u, 0x95B17957u,
    0xCBA24573u, 0x39C9C670u, 0x2A993584u, 0xD8F2B687u, 0x0C38D26Cu, 0xFE53516Fu,
    0xED03A29Bu, 0x1F682198u, 0x5125DAD3u, 0xA34E59D0u, 0xB01EAA24u, 0x42752927u,
    0x96BF4DCCu, 0x64D4CECFu, 0x77843D3Bu, 0x85EFBE38u, 0xDBFC821Cu, 0x2997011Fu,
    0x3AC7F2EBu, 0xC8AC71E8u, 0x1C661503u, 0xEE0D9600u, 0xFD5D65F4u, 0x0F36E6F7u,
    0x61C69362u, 0x93AD1061u, 0x80FDE395u, 0x72966096u, 0xA65C047Du, 0x5437877Eu,
    0x4767748Au, 0xB50CF789u, 0xEB1FCBADu, 0x197448AEu, 0x0A24BB5Au, 0xF84F3859u,
    0x2C855CB2u, 0xDEEEDFB1u, 0xCDBE2C45u, 0x3FD5AF46u, 0x7198540Du, 0x83F3D70Eu,
    0x90A324FAu, 0x62C8A7F9u, 0xB602C312u, 0x44694011u, 0x5739B3E5u, 0xA55230E6u,
    0xFB410CC2u, 0x092A8FC1u, 0x1A7A7C35u, 0xE811FF36u, 0x3CDB9BDDu, 0xCEB018DEu,
    0xDDE0EB2Au, 0x2F8B6829u, 0x82F63B78u, 0x709DB87Bu, 0x63CD4B8Fu, 0x91A6C88Cu,
    0x456CAC67u, 0xB7072F64u, 0xA457DC90u, 0x563C5F93u, 0x082F63B7u, 0xFA44E0B4u,
    0xE9141340u, 0x1B7F9043u, 0xCFB5F4A8u, 0x3DDE77ABu, 0x2E8E845Fu, 0xDCE5075Cu,
    0x92A8FC17u, 0x60C37F14u, 0x73938CE0u, 0x81F80FE3u, 0x55326B08u, 0xA759E80Bu,
    0xB4091BFFu, 0x466298FCu, 0x1871A4D8u, 0xEA1A27DBu, 0xF94AD42Fu, 0x0B21572Cu,
    0xDFEB33C7u, 0x2D80B0C4u, 0x3ED04330u, 0xCCBBC033u, 0xA24BB5A6u, 0x502036A5u,
    0x4370C551u, 0xB11B4652u, 0x65D122B9u, 0x97BAA1BAu, 0x84EA524Eu, 0x7681D14Du,
    0x2892ED69u, 0xDAF96E6Au, 0xC9A99D9Eu, 0x3BC21E9Du, 0xEF087A76u, 0x1D63F975u,
    0x0E330A81u, 0xFC588982u, 0xB21572C9u, 0x407EF1CAu, 0x532E023Eu, 0xA145813Du,
    0x758FE5D6u, 0x87E466D5u, 0x94B49521u, 0x66DF1622u, 0x38CC2A06u, 0xCAA7A905u,
    0xD9F75AF1u, 0x2B9CD9F2u, 0xFF56BD19u, 0x0D3D3E1Au, 0x1E6DCDEEu, 0xEC064EEDu,
    0xC38D26C4u, 0x31E6A5C7u, 0x22B65633u, 0xD0DDD530u, 0x0417B1DBu, 0xF67C32D8u,
    0xE52CC12Cu, 0x1747422Fu, 0x49547E0Bu, 0xBB3FFD08u, 0xA86F0EFCu, 0x5A048DFFu,
    0x8ECEE914u, 0x7CA56A17u, 0x6FF599E3u, 0x9D9E1AE0u, 0xD3D3E1ABu, 0x21B862A8u,
    0x32E8915Cu, 0xC083125Fu, 0x144976B4u, 0xE622F5B7u, 0xF5720643u, 0x07198540u,
    0x590AB964u, 0xAB613A67u, 0xB831C993u, 0x4A5A4A90u, 0x9E902E7Bu, 0x6CFBAD78u,
    0x7FAB5E8Cu, 0x8DC0DD8Fu, 0xE330A81Au, 0x115B2B19u, 0x020BD8EDu, 0xF0605BEEu,
    0x24AA3F05u, 0xD6C1BC06u, 0xC5914FF2u, 0x37FACCF1u, 0x69E9F0D5u, 0x9B8273D6u,
    0x88D28022u, 0x7AB90321u, 0xAE7367CAu, 0x5C18E4C9u, 0x4F48173Du, 0xBD23943Eu,
    0xF36E6F75u, 0x0105EC76u, 0x12551F82u, 0xE03E9C81u, 0x34F4F86Au, 0xC69F7B69u,
    0xD5CF889Du, 0x27A40B9Eu, 0x79B737BAu, 0x8BDCB4B9u, 0x988C474Du, 0x6AE7C44Eu,
    0xBE2DA0A5u, 0x4C4623A6u, 0x5F16D052u, 0xAD7D5351u,
};

uint32_t tblog_crc32c(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc32c_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t tblog_crc32c_bitwise(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

uint32_t tblog_masked_crc32c(const void *data, size_t n)
{
    /* TFRecord masks the CRC because a CRC of data that itself holds CRCs is weak. */
    uint32_t c = tblog_crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

struct tblog {
    FILE *fp;
    char *path;
    unsigned char *buf; /* one framed record */
    size_t cap;
    int failed;
    char first_err[256];
};

double tblog_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *tblog_path(const tblog *log) { return log->path; }

static int sticky(tblog *log, char *err, size_t errlen)
{
    return smbrl_fail(err, errlen, "%s", log->first_err);
}

static int write_event(tblog *log, const Tb__Event *ev, char *err, size_t errlen)
{
    if (log->failed)
        return sticky(log, err, errlen);
    size_t n = tb__event__get_packed_size(ev);
    if (n + 16 > log->cap) {
        size_t cap = (n + 16) * 2;
        unsigned char *b = realloc(log->buf, cap);
        if (!b)
            return smbrl_fail(err, errlen, "%s: out of memory for a %zu-byte record", log->path, n);
        log->buf = b;
        log->cap = cap;
    }
    unsigned char *p = log->buf;
    put_le(p, n, 8);
    put_le(p + 8, tblog_masked_crc32c(p, 8), 4);
    tb__event__pack(ev, p + 12);
    put_le(p + 12 + n, tblog_masked_crc32c(p + 12, n), 4);
    if (fwrite(p, 1, n + 16, log->fp) != n + 16) {
        log->failed = 1;
        smbrl_fail(log->first_err, sizeof log->first_err, "%s: write failed: %s", log->path, strerror(errno));
        return sticky(log, err, errlen);
    }
    return 0;
}

/* Takes ownership of fp and path. */
static int start_log(tblog **out, FILE *fp, char *path, double wall_time, char *err, size_t errlen)
{
    tblog *log = calloc(1, sizeof *log);
    if (!log) {
        fclose(fp);
        unlink(path);
        smbrl_fail(err, errlen, "%s: out of memory", path);
        free(path);
        return -1;
    }
    log->fp = fp;
    log->path = path;
    Tb__Event ev = TB__EVENT__INIT;
    ev.wall_time = wall_time;
    ev.what_case = TB__EVENT__WHAT_FILE_VERSION;
    /* protoc-c's string fields are not const; pack only reads them. */
    ev.file_version = (char *)TBLOG_FILE_VERSION;
    if (write_event(log, &ev, err, errlen) != 0) {
        tblog_close(log, NULL, 0);
        return -1;
    }
    *out = log;
    return 0;
}

int tblog_open_file(tblog **out, const char *path, double wall_time, char *err, size_t errlen)
{
    *out = NULL;
    char *p = strdup(path);
    if (!p)
        return smbrl_fail(err, errlen, "%s: out of memory", path);
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(p);
        return smbrl_fail(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    }
    return start_log(out, fp, p, wall_time, err, errlen);
}

int tblog_open(tblog **out, const char *dir, char *err, size_t errlen)
{
    *out = NULL;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return smbrl_fail(err, errlen, "%s: cannot create log folder: %s", dir, strerror(errno));
    char host[256];
    if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
        strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *c = host; *c; c++)
        if (*c == '/')
            *c = '_';
    double now = tblog_now();
    size_t len = strlen(dir) + strlen(host) + 96;
    char *path = malloc(len);
    if (!path)
        return smbrl_fail(err, errlen, "%s: out of memory", dir);
    /* Two logs opened in one second by one process would collide: O_EXCL finds out,
     * and a numeric suffix (the name still contains "tfevents") separates them. */
    int fd = -1;
    for (int attempt = 0; attempt < 1000 && fd < 0; attempt++) {
        int w = snprintf(path, len, "%s/events.out.tfevents.%010lld.%s.%ld", dir, (long long)now, host,
                         (long)getpid());
        if (attempt > 0)
            snprintf(path + w, len - (size_t)w, ".%d", attempt);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0 && errno != EEXIST) {
            smbrl_fail(err, errlen, "%s: cannot create: %s", path, strerror(errno));
            free(path);
            return -1;
        }
    }
    if (fd < 0) {
        smbrl_fail(err, errlen, "%s: no free event file name", dir);
        free(path);
        return -1;
    }
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        smbrl_fail(err, errlen, "%s: fdopen: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        free(path);
        return -1;
    }
    return start_log(out, fp, path, now, err, errlen);
}

int tblog_scalar(tblog *log, const char *tag, int64_t step, float value, double wall_time,
                 char *err, size_t errlen)
{
    if (!tag)
        return smbrl_fail(err, errlen, "%s: scalar without a tag", log->path);
    Tb__Summary__Value v = TB__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.value_case = TB__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
    v.simple_value = value;
    Tb__Summary__Value *vp = &v;
    Tb__Summary s = TB__SUMMARY__INIT;
    s.n_value = 1;
    s.value = &vp;
    Tb__Event ev = TB__EVENT__INIT;
    ev.wall_time = wall_time;
    ev.step = step;
    ev.what_case = TB__EVENT__WHAT_SUMMARY;
    ev.summary = &s;
    return write_event(log, &ev, err, errlen);
}

int tblog_flush(tblog *log, char *err, size_t errlen)
{
    if (log->failed)
        return sticky(log, err, errlen);
    if (fflush(log->fp) != 0) {
        log->failed = 1;
        smbrl_fail(log->first_err, sizeof log->first_err, "%s: flush failed: %s", log->path, strerror(errno));
        return sticky(log, err, errlen);
    }
    return 0;
}

int tblog_close(tblog *log, char *err, size_t errlen)
{
    if (!log)
        return 0;
    int rc = tblog_flush(log, err, errlen);
    if (fclose(log->fp) != 0 && rc == 0)
        rc = smbrl_fail(err, errlen, "%s: close failed: %s", log->path, strerror(errno));
    free(log->path);
    free(log->buf);
    free(log);
    return rc;
}

/* ---- reading ---- */

static int deliver(const Tb__Event *ev, int64_t rec, tblog_event_fn fn, void *user)
{
    tblog_event e = {.record = rec, .wall_time = ev->wall_time, .step = ev->step};
    if (ev->what_case == TB__EVENT__WHAT_FILE_VERSION) {
        e.file_version = ev->file_version;
        return fn ? fn(user, &e) : 0;
    }
    if (ev->what_case != TB__EVENT__WHAT_SUMMARY || !ev->summary)
        return 0;
    for (size_t i = 0; i < ev->summary->n_value; i++) {
        const Tb__Summary__Value *v = ev->summary->value[i];
        if (v->value_case != TB__SUMMARY__VALUE__VALUE_SIMPLE_VALUE)
            continue;
        e.tag = v->tag;
        e.value = v->simple_value;
        int r = fn ? fn(user, &e) : 0;
        if (r)
            return r;
    }
    return 0;
}

int tblog_read_file(const char *path, tblog_event_fn fn, void *user, int64_t *n_records,
                    char *err, size_t errlen)
{
    if (n_records)
        *n_records = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return smbrl_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return smbrl_fail(err, errlen, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size, off = 0;
    int64_t rec = 0;
    unsigned char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        unsigned char hdr[12];
        size_t got = fread(hdr, 1, sizeof hdr, fp);
        if (got == 0 && !ferror(fp))
            break;
        if (got < sizeof hdr) {
            rc = smbrl_fail(err, errlen, "%s: record %" PRId64 " at offset %" PRIu64 ": truncated header (%zu of 12 bytes)",
                      path, rec, off, got);
            break;
        }
        uint64_t len = get_le(hdr, 8);
        if ((uint32_t)get_le(hdr + 8, 4) != tblog_masked_crc32c(hdr, 8)) {
            rc = smbrl_fail(err, errlen, "%s: record %" PRId64 " at offset %" PRIu64 ": length CRC mismatch", path, rec,
                      off);
            break;
        }
        uint64_t left = size - off - 12;
        if (off + 12 > size || len > left || left - len < 4) {
            rc = smbrl_fail(err, errlen,
                      "%s: record %" PRId64 " at offset %" PRIu64 ": truncated (%" PRIu64
                      " data bytes + CRC, %" PRIu64 " left in file)",
                      path, rec, off, len, off + 12 > size ? 0 : left);
            break;
        }
        if (len + 4 > cap) {
            unsigned char *b = realloc(buf, (size_t)len + 4);
            if (!b) {
                rc = smbrl_fail(err, errlen, "%s: record %" PRId64 ": out of memory for %" PRIu64 " bytes", path, rec, len);
                break;
            }
            buf = b;
            cap = (size_t)len + 4;
        }
        if (fread(buf, 1, (size_t)len + 4, fp) != (size_t)len + 4) {
            rc = smbrl_fail(err, errlen, "%s: record %" PRId64 " at offset %" PRIu64 ": short read (file changed?)", path,
                      rec, off);
            break;
        }
        if ((uint32_t)get_le(buf + len, 4) != tblog_masked_crc32c(buf, (size_t)len)) {
            rc = smbrl_fail(err, errlen, "%s: record %" PRId64 " at offset %" PRIu64 ": data CRC mismatch", path, rec,
                      off);
            break;
        }
        Tb__Event *ev = tb__event__unpack(NULL, (size_t)len, buf);
        if (!ev) {
            rc = smbrl_fail(err, errlen, "%s: record %" PRId64 " at offset %" PRIu64 ": not a valid Event protobuf", path,
                      rec, off);
            break;
        }
        int r = deliver(ev, rec, fn, user);
        tb__event__free_unpacked(ev, NULL);
        off += 16 + len;
        rec++;
        if (n_records)
            *n_records = rec;
        if (r) {
            rc = r;
            break;
        }
    }
    free(buf);
    fclose(fp);
    return rc;
}
