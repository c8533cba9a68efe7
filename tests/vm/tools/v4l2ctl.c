/*
 * v4l2ctl DEVICE ID VALUE: sets one V4L2 control (VIDIOC_S_CTRL), e.g.
 * vivid's "Percentage of Dropped Buffers" (0x00f0f040) to make the camera
 * stop delivering frames. Prints the value read back; exit 1 on error.
 */
#include <fcntl.h>
#include <linux/videodev2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: v4l2ctl DEVICE ID VALUE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "v4l2ctl: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct v4l2_control c = { .id = (unsigned)strtoul(argv[2], NULL, 0),
				  .value = atoi(argv[3]) };
	if (ioctl(fd, VIDIOC_S_CTRL, &c) < 0 || ioctl(fd, VIDIOC_G_CTRL, &c) < 0) {
		fprintf(stderr, "v4l2ctl: control %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	printf("%s %#x = %d\n", argv[1], c.id, c.value);
	return 0;
}
