/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lm_devsel.h - which devices a selftest runs on.
 *
 * In order of precedence: PCI addresses (dddd:bb:dd.f) given on the
 * command line, then the LIVEMIG_DEVICES environment variable (addresses
 * separated by commas and/or white space), then every device bound to the
 * livemig-vfio-pci driver, sorted.  Tests that need N devices skip when
 * fewer were selected.
 */
#ifndef LM_DEVSEL_H
#define LM_DEVSEL_H

#include <stdbool.h>
#include <stddef.h>

#define LM_MAX_DEVICES		16
#define LM_DRIVER_NAME		"livemig-vfio-pci"

struct lm_devlist {
	int n;
	char bdf[LM_MAX_DEVICES][32];
	const char *source;	/* "argv", "env" or "sysfs" */
};

extern struct lm_devlist lm_devices;

/* True if @s looks like a full PCI address, "0000:00:04.0". */
bool lm_is_bdf(const char *s);
/*
 * Fill lm_devices.  PCI addresses in argv are taken out of it (argc
 * updated), so the rest can go to the harness' own option parser.
 * Returns the number of devices selected.
 */
int lm_select_devices(int *argc, char **argv);
/* The i-th selected device, or NULL. */
const char *lm_device(int i);

/* Write @val to the sysfs attribute @path: 0 or a negative errno. */
int lm_sysfs_write(const char *path, const char *val);
/* The name of the driver @bdf is bound to into @buf, "" if none. */
void lm_driver_of(const char *bdf, char *buf, size_t len);
/*
 * Bind @bdf to @driver through driver_override and drivers_probe,
 * unbinding it from its driver first (even if that is @driver: a new
 * probe).  0 once the device is bound to @driver, else a negative errno.
 */
int lm_bind_driver(const char *bdf, const char *driver);

#endif /* LM_DEVSEL_H */
