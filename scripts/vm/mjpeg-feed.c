/* mjpeg-feed: plays JPEG files into a v4l2loopback device as an MJPEG camera.
 *
 * Used inside the capture test VM (scripts/vm-capture.sh): readers of the
 * loopback node then see a webcam offering 'MJPG'. One write() per frame,
 * paced to FPS, cycling through the files, for SECONDS (0 = forever).
 *
 *   mjpeg-feed DEVICE WIDTH HEIGHT FPS SECONDS FILE.jpg...
 *
 * Built static (gcc -O2 -static) so the guest needs no libraries for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct frame {
    unsigned char *data;
    size_t len;
};

static int read_file(const char *path, struct frame *f) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    if (fseek(fp, 0, SEEK_END) != 0) { fclose(fp); return -1; }
    long n = ftell(fp);
    if (n <= 0 || n > (16L << 20)) { fclose(fp); errno = EFBIG; return -1; }
    rewind(fp);
    f->data = malloc((size_t)n);
    f->len = (size_t)n;
    size_t got = f->data ? fread(f->data, 1, f->len, fp) : 0;
    fclose(fp);
    return got == f->len ? 0 : -1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s DEVICE WIDTH HEIGHT FPS SECONDS FILE.jpg...\n", argv[0]);
        return 2;
    }
    unsigned width = (unsigned)atoi(argv[2]), height = (unsigned)atoi(argv[3]);
    double fps = atof(argv[4]), seconds = atof(argv[5]);
    if (width == 0 || height == 0 || fps <= 0) {
        fprintf(stderr, "mjpeg-feed: bad size or rate\n");
        return 2;
    }
    int count = argc - 6;
    struct frame *frames = calloc((size_t)count, sizeof *frames);
    size_t largest = 0;
    for (int i = 0; i < count; i++) {
        if (read_file(argv[6 + i], &frames[i]) != 0) {
            perror(argv[6 + i]);
            return 1;
        }
        if (frames[i].len > largest) largest = frames[i].len;
    }
    int fd = open(argv[1], O_RDWR);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    struct v4l2_format fmt;
    memset(&fmt, 0, sizeof fmt);
    fmt.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
    fmt.fmt.pix.width = width;
    fmt.fmt.pix.height = height;
    fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_MJPEG;
    fmt.fmt.pix.field = V4L2_FIELD_NONE;
    fmt.fmt.pix.sizeimage = (unsigned)(largest * 2);
    fmt.fmt.pix.colorspace = V4L2_COLORSPACE_SRGB;
    if (ioctl(fd, VIDIOC_S_FMT, &fmt) != 0) {
        perror("VIDIOC_S_FMT");
        return 1;
    }
    fprintf(stderr, "mjpeg-feed: %ux%u MJPG, %d files, %.1f fps\n", width, height, count, fps);
    double start = now_s();
    for (long k = 0;; k++) {
        const struct frame *f = &frames[k % count];
        if (write(fd, f->data, f->len) < 0) {
            perror("write");
            return 1;
        }
        double due = (double)(k + 1) / fps;
        if (seconds > 0 && due >= seconds) break;
        double wait = due - (now_s() - start);
        if (wait > 0) usleep((useconds_t)(wait * 1e6));
    }
    close(fd);
    return 0;
}
