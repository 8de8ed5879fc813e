/*
 * The symbols wsi_common_drm.c references that the two functions under test
 * (wsi_device_matches_drm_fd(), wsi_common_drm_devices_equal()) never reach:
 * image creation and sync objects, from wsi_common.c and the Vulkan runtime,
 * which the harness does not link. Each aborts if it is ever called.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <stdlib.h>

#define STUB(name)                                                             \
   void name(void);                                                            \
   void name(void)                                                             \
   {                                                                           \
      fprintf(stderr, "wsistubs: %s called\n", #name);                         \
      abort();                                                                 \
   }

STUB(__vk_errorf)
STUB(vk_sync_create)
STUB(vk_sync_destroy)
STUB(vk_sync_import_sync_file)
STUB(vk_sync_signal)
STUB(wsi_configure_buffer_image)
STUB(wsi_configure_image)
STUB(wsi_create_buffer_blit_context)
STUB(wsi_destroy_image_info)
STUB(wsi_select_device_memory_type)
STUB(wsi_select_memory_type)
