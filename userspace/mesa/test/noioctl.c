/*
 * LD_PRELOAD shim: DRM_IOCTL_FILE_SAME on a DRM file fails with EINVAL, as on
 * a kernel without the ioctl; every other ioctl goes through. A simulation of
 * an old kernel on the series kernel, used by guest.sh only in addition to
 * the runs on the kernel it was booted on, and labelled as such.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* DRM_IOWR(0xD3, struct drm_file_same): 'd', 0xD3, 16 bytes */
#define FILE_SAME_NR 0xD3
#define DRM_MAJOR 226

int
ioctl(int fd, unsigned long request, ...)
{
   static int (*real_ioctl)(int, unsigned long, ...);
   va_list ap;
   void *arg;
   struct stat st;

   va_start(ap, request);
   arg = va_arg(ap, void *);
   va_end(ap);

   if (!real_ioctl)
      real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");

   if (_IOC_TYPE(request) == 'd' && _IOC_NR(request) == FILE_SAME_NR &&
       fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == DRM_MAJOR) {
      errno = EINVAL;
      return -1;
   }
   return real_ioctl(fd, request, arg);
}
