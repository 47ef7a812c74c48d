/* edgefetch-jpeg-make: writes a JPEG of raw RGB samples with libjpeg, stored
 * as YCbCr (the usual) or as RGB (Adobe transform 0, which cv2.imwrite cannot
 * write), 4:4:4, for test_gray.py. Test-only; never installed.
 *
 *   edgefetch-jpeg-make ycc|rgb WIDTH HEIGHT IN.rgb OUT.jpg
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

int main(int argc, char **argv)
{
    if (argc != 6 || (strcmp(argv[1], "ycc") != 0 && strcmp(argv[1], "rgb") != 0)) {
        fprintf(stderr, "Usage: edgefetch-jpeg-make ycc|rgb WIDTH HEIGHT IN.rgb OUT.jpg\n");
        return 2;
    }
    int width = atoi(argv[2]), height = atoi(argv[3]);
    if (width <= 0 || height <= 0 || width > 65535 || height > 65535)
        return 2;
    size_t size = (size_t)width * (size_t)height * 3;
    unsigned char *rgb = malloc(size);
    FILE *in = fopen(argv[4], "rb");
    if (rgb == NULL || in == NULL || fread(rgb, 1, size, in) != size) {
        fprintf(stderr, "edgefetch-jpeg-make: cannot read %s\n", argv[4]);
        return 1;
    }
    fclose(in);
    FILE *out = fopen(argv[5], "wb");
    if (out == NULL)
        return 1;
    /* libjpeg's default error handler exits on failure. */
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr errors;
    cinfo.err = jpeg_std_error(&errors);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, out);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    if (strcmp(argv[1], "rgb") == 0)
        jpeg_set_colorspace(&cinfo, JCS_RGB);
    cinfo.comp_info[0].h_samp_factor = cinfo.comp_info[0].v_samp_factor = 1;
    jpeg_set_quality(&cinfo, 95, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = rgb + (size_t)cinfo.next_scanline * (size_t)width * 3;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    free(rgb);
    return fclose(out) == 0 ? 0 : 1;
}
