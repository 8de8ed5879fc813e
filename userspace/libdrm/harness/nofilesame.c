/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim: DRM_IOCTL_FILE_SAME issued on a DRM file fails with
 * EINVAL, as on a kernel without the ioctl; every other ioctl, and this one
 * on other files (ENOTTY from the kernel), goes to the kernel. A simulation
 * of an old kernel for the fallback paths, used only when no kernel without
 * the series can be booted; its results are labelled as simulated.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <drm.h>

#ifndef DRM_IOCTL_FILE_SAME
struct drm_file_same {
    __s32 fd;
    __u32 flags;
    __u64 result;
};
#define DRM_IOCTL_FILE_SAME DRM_IOWR(0xD3, struct drm_file_same)
#endif

int ioctl(int fd, unsigned long request, ...);

int ioctl(int fd, unsigned long request, ...)
{
    static int (*real)(int, unsigned long, ...);
    struct stat st;
    va_list ap;
    void *arg;

    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);

    if (request == DRM_IOCTL_FILE_SAME && fstat(fd, &st) == 0 &&
        S_ISCHR(st.st_mode) && major(st.st_rdev) == 226) {
        errno = EINVAL;
        return -1;
    }
    if (!real)
        real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
    return real(fd, request, arg);
}
