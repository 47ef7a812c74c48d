/* edgefetch-op-dump: exposes imaging's luma and operators to the OpenCV
 * comparison (test_opencv.py). Test-only; never installed.
 *
 *   edgefetch-op-dump [--sigma S] [--low L] [--high H] FILE OUTDIR
 *
 * decodes FILE to luma exactly as edgefetch does (img_decode, 1 channel) and
 * writes binary PGMs (P5, 8-bit, which numpy and cv2.imread both read) into
 * OUTDIR: luma.pgm, sobel.pgm, scharr.pgm, prewitt.pgm, canny.pgm, and
 * blur.pgm (the Gaussian blur Canny starts from; only when S > 0). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imaging.h"

#define MAX_FILE_BYTES (256 * 1024 * 1024)
#define MAX_PIXELS UINT64_C(1000000000)

static int read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *in = fopen(path, "rb");
    if (in == NULL)
        return -errno;
    uint8_t *buffer = malloc(MAX_FILE_BYTES);
    if (buffer == NULL) {
        fclose(in);
        return -ENOMEM;
    }
    size_t length = fread(buffer, 1, MAX_FILE_BYTES, in);
    int failed = ferror(in) || !feof(in);
    fclose(in);
    if (failed) {
        free(buffer);
        return -EIO;
    }
    *data = buffer;
    *size = length;
    return 0;
}

static int write_pgm(const char *dir, const char *name, const struct img_buf *gray)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s.pgm", dir, name) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    FILE *out = fopen(path, "wb");
    if (out == NULL) {
        fprintf(stderr, "edgefetch-op-dump: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    fprintf(out, "P5\n%d %d\n255\n", gray->width, gray->height);
    for (int y = 0; y < gray->height; y++)
        fwrite(gray->data + (size_t)y * gray->stride, 1, (size_t)gray->width, out);
    int failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        fprintf(stderr, "edgefetch-op-dump: %s: write failed\n", path);
        return -EIO;
    }
    return 0;
}

static int parse_double(const char *text, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    return errno == 0 && end != text && *end == '\0' ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
    struct img_canny_options canny;
    img_canny_options_init(&canny);
    int arg = 1;
    for (; arg + 1 < argc && strncmp(argv[arg], "--", 2) == 0; arg += 2) {
        double *target = strcmp(argv[arg], "--sigma") == 0  ? &canny.sigma
                         : strcmp(argv[arg], "--low") == 0  ? &canny.low
                         : strcmp(argv[arg], "--high") == 0 ? &canny.high
                                                            : NULL;
        if (target == NULL || parse_double(argv[arg + 1], target) < 0) {
            fprintf(stderr, "edgefetch-op-dump: bad option %s %s\n", argv[arg], argv[arg + 1]);
            return 2;
        }
    }
    if (argc - arg != 2) {
        fprintf(stderr, "Usage: edgefetch-op-dump [--sigma S] [--low L] [--high H] FILE OUTDIR\n");
        return 2;
    }
    const char *input = argv[arg], *dir = argv[arg + 1];
    char err[256] = "";
    if (img_canny_options_check(&canny, err, sizeof(err)) < 0) {
        fprintf(stderr, "edgefetch-op-dump: %s\n", err);
        return 2;
    }

    uint8_t *data = NULL;
    size_t size = 0;
    int rc = read_file(input, &data, &size);
    if (rc < 0) {
        fprintf(stderr, "edgefetch-op-dump: %s: %s\n", input, strerror(-rc));
        return 1;
    }
    struct img_buf luma = {0};
    rc = img_decode(data, size, 1, MAX_PIXELS, &luma, err, sizeof(err));
    free(data);
    if (rc < 0) {
        fprintf(stderr, "edgefetch-op-dump: %s: %s\n", input, err);
        return 1;
    }
    rc = write_pgm(dir, "luma", &luma);

    static const struct {
        enum img_operator op;
        const char *name;
    } outputs[] = {
        {IMG_OP_SOBEL, "sobel"},
        {IMG_OP_SCHARR, "scharr"},
        {IMG_OP_PREWITT, "prewitt"},
        {IMG_OP_CANNY, "canny"},
    };
    for (size_t i = 0; rc == 0 && i < sizeof(outputs) / sizeof(outputs[0]); i++) {
        struct img_buf edges = {0};
        rc = img_apply_with(outputs[i].op, &canny, &luma, &edges);
        if (rc == 0)
            rc = write_pgm(dir, outputs[i].name, &edges);
        img_buf_finish(&edges);
    }
    if (rc == 0 && canny.sigma > 0) {
        struct img_buf blurred = {0};
        rc = img_buf_init(&blurred, luma.width, luma.height, 1);
        if (rc == 0)
            rc = img_gaussian_blur(luma.data, luma.stride, blurred.data, blurred.stride, luma.width,
                                   luma.height, canny.sigma);
        if (rc == 0)
            rc = write_pgm(dir, "blur", &blurred);
        img_buf_finish(&blurred);
    }
    img_buf_finish(&luma);
    if (rc < 0) {
        fprintf(stderr, "edgefetch-op-dump: %s: %s\n", input, strerror(-rc));
        return 1;
    }
    return 0;
}
