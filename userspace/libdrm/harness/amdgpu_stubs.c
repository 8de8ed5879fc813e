/* SPDX-License-Identifier: MIT */
/*
 * Stubs for the amdgpu query ioctls and the helpers of libdrm_amdgpu that
 * amdgpu_device_initialize() calls, so that amdgpu_device.c, compiled on its
 * own into the harness, runs on DRM devices that are not amdgpu (vkms, vgem,
 * bochs, virtio-gpu). Each answers as a working amdgpu would, without any
 * ioctl: acceleration works, no GFX IP (so no GFX version query), nothing to
 * set up or tear down. What is left of amdgpu_device_initialize() is what the
 * harness tests: the device deduplication (fd_compare() over dev_list) and
 * amdgpu_get_auth(), which issues DRM_IOCTL_GET_CLIENT on primary nodes.
 *
 * Compiled against the amdgpu headers of the tree under test (2.4.124 has
 * amdgpu_va_manager_init(), main also amdgpu_va_manager_init2()).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xf86drm.h"
#include "amdgpu_drm.h"
#include "amdgpu_internal.h"

int amdgpu_query_info(amdgpu_device_handle dev, unsigned info_id,
                      unsigned size, void *value)
{
    (void)dev;
    memset(value, 0, size);
    if (info_id == AMDGPU_INFO_ACCEL_WORKING && size >= sizeof(uint32_t))
        *(uint32_t *)value = 1;
    return 0;
}

drm_private int amdgpu_query_gpu_info_init(amdgpu_device_handle dev)
{
    (void)dev;
    return 0;
}

int amdgpu_query_hw_ip_count(amdgpu_device_handle dev, unsigned type,
                             uint32_t *count)
{
    (void)dev;
    (void)type;
    *count = 0;
    return 0;
}

int amdgpu_query_hw_ip_info(amdgpu_device_handle dev, unsigned type,
                            unsigned ip_instance,
                            struct drm_amdgpu_info_hw_ip *info)
{
    (void)dev;
    (void)type;
    (void)ip_instance;
    memset(info, 0, sizeof(*info));
    return 0;
}

void amdgpu_va_manager_init(amdgpu_va_manager_handle va_mgr,
                            uint64_t low_va_offset, uint64_t low_va_max,
                            uint64_t high_va_offset, uint64_t high_va_max,
                            uint32_t virtual_address_alignment)
{
    (void)va_mgr;
    (void)low_va_offset;
    (void)low_va_max;
    (void)high_va_offset;
    (void)high_va_max;
    (void)virtual_address_alignment;
}

#ifdef AMDGPU_VA_MGR_RESERVE_HALF_VA_FOR_PRT
void amdgpu_va_manager_init2(struct amdgpu_va_manager *va_mgr,
                             uint64_t low_va_offset, uint64_t low_va_max,
                             uint64_t high_va_offset, uint64_t high_va_max,
                             uint32_t virtual_address_alignment,
                             uint32_t flags)
{
    (void)flags;
    amdgpu_va_manager_init(va_mgr, low_va_offset, low_va_max, high_va_offset,
                           high_va_max, virtual_address_alignment);
}
#endif

drm_private void amdgpu_vamgr_deinit(struct amdgpu_bo_va_mgr *mgr)
{
    (void)mgr;
}

drm_private void handle_table_fini(struct handle_table *table)
{
    (void)table;
}

drm_private void amdgpu_parse_asic_ids(struct amdgpu_device *dev)
{
    (void)dev;
}

/* amdgpu_device.c is compiled with drmGetVersion renamed to this. */
drmVersionPtr harness_drmGetVersion(int fd);
void harness_drmFreeVersion(drmVersionPtr v);

/* What amdgpu reports: DRM driver version 3.x (the device is not amdgpu). */
drmVersionPtr harness_drmGetVersion(int fd)
{
    drmVersionPtr v = calloc(1, sizeof(*v));

    (void)fd;
    if (v) {
        v->version_major = 3;
        v->version_minor = 64;
    }
    return v;
}

void harness_drmFreeVersion(drmVersionPtr v)
{
    free(v);
}
