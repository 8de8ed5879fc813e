// SPDX-License-Identifier: MIT
/*
 * compat32: DRM_IOCTL_FILE_SAME and DMA_BUF_IOCTL_SAME_OBJECT issued from 32-bit (i386) code on
 * a 64-bit kernel (IA32_EMULATION), i.e. through the compat ioctl paths (drm_compat_ioctl passes
 * 0xD3 on to drm_ioctl; dma-buf uses compat_ptr_ioctl). The structures and ioctl numbers must be
 * identical to the 64-bit ones: asserted at compile time.
 *
 * Built by rust-tests/build.rs with `gcc -m32 -static`, run in the guest by tests/compat32.rs.
 * Prints one line per check ("PASS <name>" or "FAIL <name>: ..."), then
 * "compat32: N checks, M failed"; exits 0 only if every check passed.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

struct drm_file_same {
	int32_t fd;
	uint32_t flags;
	uint64_t result;
};

struct dma_buf_same_object {
	int32_t fd;
	uint32_t flags;
	uint64_t result;
};

#define DRM_IOCTL_FILE_SAME _IOWR('d', 0xD3, struct drm_file_same)
#define DMA_BUF_IOCTL_SAME_OBJECT _IOWR('b', 4, struct dma_buf_same_object)

static_assert(sizeof(long) == 4, "compat32.c must be built with -m32");
static_assert(sizeof(struct drm_file_same) == 16, "drm_file_same size");
static_assert(offsetof(struct drm_file_same, fd) == 0, "drm_file_same.fd");
static_assert(offsetof(struct drm_file_same, flags) == 4, "drm_file_same.flags");
static_assert(offsetof(struct drm_file_same, result) == 8, "drm_file_same.result");
static_assert(sizeof(struct dma_buf_same_object) == 16, "dma_buf_same_object size");
static_assert(offsetof(struct dma_buf_same_object, fd) == 0, "dma_buf_same_object.fd");
static_assert(offsetof(struct dma_buf_same_object, flags) == 4, "dma_buf_same_object.flags");
static_assert(offsetof(struct dma_buf_same_object, result) == 8, "dma_buf_same_object.result");
static_assert(DRM_IOCTL_FILE_SAME == 0xC01064D3u, "DRM_IOCTL_FILE_SAME number (same as 64-bit)");
static_assert(DMA_BUF_IOCTL_SAME_OBJECT == 0xC0106204u, "DMA_BUF_IOCTL_SAME_OBJECT number (same as 64-bit)");

#define ALL 7ull
#define DEVICE 4ull
/* One dma-buf: FILE | OBJECT | STORAGE | STORAGE_COMPARED */
#define BUF_SAME 0xfull

/* 32-bit layout of struct drm_version: size_t and pointers are 4 bytes. */
struct drm_version32 {
	int version_major, version_minor, version_patchlevel;
	size_t name_len;
	char *name;
	size_t date_len;
	char *date;
	size_t desc_len;
	char *desc;
};
#define DRM_IOCTL_VERSION _IOWR('d', 0x00, struct drm_version32)

struct dma_heap_allocation_data {
	uint64_t len;
	uint32_t fd;
	uint32_t fd_flags;
	uint64_t heap_flags;
};
#define DMA_HEAP_IOCTL_ALLOC _IOWR('H', 0x0, struct dma_heap_allocation_data)

static int checks, failures;

/* Result of one ioctl: bits >= 0 on success, or -errno. */
static long long same(unsigned long req, int fd, int other, uint32_t flags)
{
	struct drm_file_same a = { .fd = other, .flags = flags, .result = 0xdeadbeefcafef00dull };

	if (ioctl(fd, req, &a) < 0)
		return -errno;
	return (long long)a.result;
}

static const char *show(long long v, char *buf, size_t n)
{
	if (v < 0)
		snprintf(buf, n, "-%s", strerrorname_np((int)-v) ? strerrorname_np((int)-v) : "?");
	else
		snprintf(buf, n, "%#llx", v);
	return buf;
}

static void expect(const char *name, long long got, long long want)
{
	char g[64], w[64];

	checks++;
	if (got == want) {
		printf("PASS %s = %s\n", name, show(got, g, sizeof(g)));
	} else {
		failures++;
		printf("FAIL %s: got %s, expected %s\n", name, show(got, g, sizeof(g)),
		       show(want, w, sizeof(w)));
	}
}

static int open_driver(const char *driver)
{
	DIR *d = opendir("/dev/dri");
	struct dirent *e;
	int found = -1;

	if (!d) {
		perror("/dev/dri");
		exit(2);
	}
	while ((e = readdir(d)) && found < 0) {
		char path[300], name[64] = { 0 };
		struct drm_version32 v = { 0 };
		int fd;

		if (strncmp(e->d_name, "card", 4))
			continue;
		snprintf(path, sizeof(path), "/dev/dri/%s", e->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		v.name = name;
		v.name_len = sizeof(name) - 1;
		if (ioctl(fd, DRM_IOCTL_VERSION, &v) == 0 && !strcmp(name, driver)) {
			found = fd;
			break;
		}
		close(fd);
	}
	closedir(d);
	if (found < 0) {
		printf("FAIL no %s card node in /dev/dri\n", driver);
		exit(2);
	}
	return found;
}

static int reopen(int fd)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = open(path, O_RDWR | O_CLOEXEC);
	if (r < 0) {
		printf("FAIL reopen %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return r;
}

static int heap_alloc(int heap)
{
	struct dma_heap_allocation_data d = { .len = 4096, .fd_flags = O_RDWR | O_CLOEXEC };

	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &d) < 0) {
		printf("FAIL DMA_HEAP_IOCTL_ALLOC (32-bit): %s\n", strerror(errno));
		exit(2);
	}
	return (int)d.fd;
}

static int closed_fd(void)
{
	int fd = fcntl(0, F_DUPFD_CLOEXEC, 900);

	if (fd < 0)
		fd = eventfd(0, EFD_CLOEXEC);
	close(fd);
	return fd;
}

/* Bad argument pointers: NULL, unmapped, read-only page (content must stay unchanged). */
static void bad_pointers(const char *what, unsigned long req, int fd, int other)
{
	char name[160];
	long ps = sysconf(_SC_PAGESIZE);
	unsigned char *ro, before[4096];
	struct drm_file_same a = { .fd = other, .flags = 0, .result = 0x1122334455667788ull };
	void *unmapped;

	snprintf(name, sizeof(name), "%s NULL pointer", what);
	expect(name, ioctl(fd, req, NULL) < 0 ? -errno : 0, -EFAULT);

	unmapped = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(unmapped, ps);
	snprintf(name, sizeof(name), "%s unmapped pointer", what);
	expect(name, ioctl(fd, req, unmapped) < 0 ? -errno : 0, -EFAULT);

	ro = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (long i = 0; i < ps; i++)
		ro[i] = (unsigned char)(i * 13 + 5);
	memcpy(ro, &a, sizeof(a));
	memcpy(before, ro, ps < 4096 ? ps : 4096);
	mprotect(ro, ps, PROT_READ);
	snprintf(name, sizeof(name), "%s read-only pointer", what);
	expect(name, ioctl(fd, req, ro) < 0 ? -errno : 0, -EFAULT);
	snprintf(name, sizeof(name), "%s read-only page unchanged", what);
	expect(name, memcmp(before, ro, ps < 4096 ? ps : 4096) == 0 ? 0 : 1, 0);
	munmap(ro, ps);
}

int main(void)
{
	int vgem = open_driver("vgem"), vkms = open_driver("vkms");
	int vgem_dup = fcntl(vgem, F_DUPFD_CLOEXEC, 0), vgem2 = reopen(vgem);
	int vkms_dup = fcntl(vkms, F_DUPFD_CLOEXEC, 0), vkms2 = reopen(vkms);
	int ev = eventfd(0, EFD_CLOEXEC), closed = closed_fd();
	int opath = open("/dev/dri", O_PATH | O_CLOEXEC);
	int heap = open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);
	int b1, b1_dup, b2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (opath < 0) {
		printf("FAIL open /dev/dri O_PATH: %s\n", strerror(errno));
		return 2;
	}
	if (heap < 0) {
		printf("FAIL open /dev/dma_heap/system: %s\n", strerror(errno));
		return 2;
	}
	b1 = heap_alloc(heap);
	b1_dup = fcntl(b1, F_DUPFD_CLOEXEC, 0);
	b2 = heap_alloc(heap);

	/* DRM_IOCTL_FILE_SAME */
	expect("drm vgem dup -> ALL", same(DRM_IOCTL_FILE_SAME, vgem, vgem_dup, 0), ALL);
	expect("drm vgem dup reverse -> ALL", same(DRM_IOCTL_FILE_SAME, vgem_dup, vgem, 0), ALL);
	expect("drm vgem self -> ALL", same(DRM_IOCTL_FILE_SAME, vgem, vgem, 0), ALL);
	expect("drm vgem two opens -> DEVICE", same(DRM_IOCTL_FILE_SAME, vgem, vgem2, 0), DEVICE);
	expect("drm vgem two opens reverse -> DEVICE", same(DRM_IOCTL_FILE_SAME, vgem2, vgem, 0), DEVICE);
	expect("drm vkms dup -> ALL", same(DRM_IOCTL_FILE_SAME, vkms, vkms_dup, 0), ALL);
	expect("drm vkms two opens -> DEVICE", same(DRM_IOCTL_FILE_SAME, vkms, vkms2, 0), DEVICE);
	expect("drm vgem vs vkms -> 0", same(DRM_IOCTL_FILE_SAME, vgem, vkms, 0), 0);
	expect("drm vkms vs vgem -> 0", same(DRM_IOCTL_FILE_SAME, vkms, vgem, 0), 0);
	expect("drm vgem vs eventfd -> 0", same(DRM_IOCTL_FILE_SAME, vgem, ev, 0), 0);
	expect("drm vgem vs dma-buf -> 0", same(DRM_IOCTL_FILE_SAME, vgem, b1, 0), 0);
	expect("drm vgem vs closed fd -> EBADF", same(DRM_IOCTL_FILE_SAME, vgem, closed, 0), -EBADF);
	expect("drm vgem vs fd -1 -> EBADF", same(DRM_IOCTL_FILE_SAME, vgem, -1, 0), -EBADF);
	expect("drm vgem vs O_PATH -> EBADF", same(DRM_IOCTL_FILE_SAME, vgem, opath, 0), -EBADF);
	expect("drm flags 1 -> EINVAL", same(DRM_IOCTL_FILE_SAME, vgem, vgem_dup, 1), -EINVAL);
	expect("drm flags 0x80000000 -> EINVAL", same(DRM_IOCTL_FILE_SAME, vgem, vgem_dup, 0x80000000u), -EINVAL);
	expect("drm flags and closed fd -> EINVAL", same(DRM_IOCTL_FILE_SAME, vgem, closed, 1), -EINVAL);
	bad_pointers("drm", DRM_IOCTL_FILE_SAME, vgem, vgem_dup);

	/* DMA_BUF_IOCTL_SAME_OBJECT */
	expect("dma-buf dup -> FILE|OBJECT|STORAGE|COMPARED", same(DMA_BUF_IOCTL_SAME_OBJECT, b1, b1_dup, 0), BUF_SAME);
	expect("dma-buf dup reverse -> FILE|OBJECT|STORAGE|COMPARED", same(DMA_BUF_IOCTL_SAME_OBJECT, b1_dup, b1, 0), BUF_SAME);
	expect("dma-buf self -> FILE|OBJECT|STORAGE|COMPARED", same(DMA_BUF_IOCTL_SAME_OBJECT, b1, b1, 0), BUF_SAME);
	expect("dma-buf two buffers -> 0", same(DMA_BUF_IOCTL_SAME_OBJECT, b1, b2, 0), 0);
	expect("dma-buf vs vgem -> 0", same(DMA_BUF_IOCTL_SAME_OBJECT, b1, vgem, 0), 0);
	expect("dma-buf vs eventfd -> 0", same(DMA_BUF_IOCTL_SAME_OBJECT, b1, ev, 0), 0);
	expect("dma-buf vs closed fd -> EBADF", same(DMA_BUF_IOCTL_SAME_OBJECT, b1, closed, 0), -EBADF);
	expect("dma-buf vs O_PATH -> EBADF", same(DMA_BUF_IOCTL_SAME_OBJECT, b1, opath, 0), -EBADF);
	expect("dma-buf flags 1 -> EINVAL", same(DMA_BUF_IOCTL_SAME_OBJECT, b1, b1_dup, 1), -EINVAL);
	expect("dma-buf flags and closed fd -> EINVAL", same(DMA_BUF_IOCTL_SAME_OBJECT, b1, closed, 1), -EINVAL);
	bad_pointers("dma-buf", DMA_BUF_IOCTL_SAME_OBJECT, b1, b1_dup);

	/* Each opcode on the other kind of fd. */
	expect("DRM opcode on a dma-buf -> ENOTTY", same(DRM_IOCTL_FILE_SAME, b1, b1_dup, 0), -ENOTTY);
	expect("dma-buf opcode on a DRM fd -> ENOTTY", same(DMA_BUF_IOCTL_SAME_OBJECT, vgem, vgem_dup, 0), -ENOTTY);

	printf("compat32: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
