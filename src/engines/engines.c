// SPDX-License-Identifier: GPL-2.0
/*
 * The functions this module drives, each with its engine.  The table is
 * the module's PCI id table (its vfio_pci: modaliases, through which
 * libvirt and driverctl pick a variant driver) and the engine list in
 * one: a new engine is its file, its line here, its extern in engines.h
 * and its line in Kbuild.
 */
#include <linux/module.h>
#include <linux/pci.h>

#include "engines.h"

/* Bound only through driver_override, as every vfio-pci variant. */
#define LIVEMIG_ENGINE(vendor, device, engine)				\
	{ PCI_DRIVER_OVERRIDE_DEVICE_VFIO(vendor, device),		\
	  .driver_data = (kernel_ulong_t)&(engine) }

const struct pci_device_id livemig_pci_table[] = {
	LIVEMIG_ENGINE(LIVEMIG_VENDOR_QEMU, 0x11e8, edu_engine),
	LIVEMIG_ENGINE(LIVEMIG_VENDOR_QEMU, 0x1111, bochs_engine),
	LIVEMIG_ENGINE(PCI_VENDOR_ID_INTEL, 0x10ca, igbvf_engine),	/* 82576 VF */
	{}
};
MODULE_DEVICE_TABLE(pci, livemig_pci_table);
