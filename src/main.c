// SPDX-License-Identifier: GPL-2.0
/*
 * livemig-vfio-pci: a vfio-pci variant driver that gives PCI functions
 * live migration through the VFIO migration protocol v2.
 *
 * This file is the PCI and vfio_device glue: probe/remove, open/close,
 * the ioctl, read/write and mmap wrappers that route trapped BARs to the
 * engine, the engine's reset, and the BAR accessors engines use.  The
 * device's lifetime (state_mutex, the deferred reset of reset_done, the
 * hardware bracket) lives in state.c, the FSM in fsm.c, the data FD in
 * migf.c, DMA logging in dirty.c, the wire format in stream.c.
 */
#include <linux/io.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "debugfs.h"
#include "dirty.h"
#include "fsm.h"
#include "state.h"
#include "wtrack.h"

/* Engine services. */

/**
 * livemig_priv() - the engine's private data of a device
 * @ld: the device
 *
 * Return: @ld's engine private area (engine->priv_size bytes, zeroed at
 * probe).
 */
void *livemig_priv(struct livemig_device *ld)
{
	return ld->priv;
}

/**
 * livemig_pdev() - the PCI function of a device
 * @ld: the device
 *
 * Return: the pci_dev.
 */
struct pci_dev *livemig_pdev(struct livemig_device *ld)
{
	return ld->core.pdev;
}

static void __iomem *livemig_bar_io(struct livemig_device *ld, int bar,
				    u64 off, u64 size)
{
	void __iomem *io;
	u64 len;

	if (bar < 0 || bar >= PCI_STD_NUM_BARS)
		return NULL;
	io = livemig_bar_iomem(&ld->core, bar);
	len = pci_resource_len(ld->core.pdev, bar);
	if (!io || off > len || size > len - off)
		return NULL;
	return io + off;
}

/* One access of @size bytes (1, 2, 4 or 8) to a mapped BAR. */
static int livemig_hw_rw(struct livemig_device *ld, int bar, u64 off,
			 u64 *val, int size, bool write)
{
	void __iomem *io = livemig_bar_io(ld, bar, off, size);

	/* Inside livemig_hw_begin() (read or write) or a trapped access (read). */
	lockdep_assert_held(&ld->core.memory_lock);
	if (!io)
		return -EINVAL;
	switch (size) {
	case 1:
		if (write)
			iowrite8(*val, io);
		else
			*val = ioread8(io);
		break;
	case 2:
		if (write)
			iowrite16(*val, io);
		else
			*val = ioread16(io);
		break;
	case 4:
		if (write)
			iowrite32(*val, io);
		else
			*val = ioread32(io);
		break;
	default:
		if (write)
			writeq(*val, io);
		else
			*val = readq(io);
		break;
	}
	return 0;
}

/**
 * livemig_hw_read32() - read a 32-bit register of a trapped BAR
 * @ld: the device, inside livemig_hw_begin()/livemig_hw_end()
 * @bar: BAR index (in the engine's @trapped_bars)
 * @off: offset in the BAR
 * @val: the value read
 *
 * Return: 0 or -EINVAL for an access outside the BAR.
 */
int livemig_hw_read32(struct livemig_device *ld, int bar, u64 off, u32 *val)
{
	u64 v = 0;
	int ret = livemig_hw_rw(ld, bar, off, &v, 4, false);

	*val = v;
	return ret;
}

/**
 * livemig_hw_write32() - write a 32-bit register of a trapped BAR
 * @ld: the device, inside livemig_hw_begin()/livemig_hw_end()
 * @bar: BAR index
 * @off: offset in the BAR
 * @val: value to write
 *
 * Return: 0 or -EINVAL for an access outside the BAR.
 */
int livemig_hw_write32(struct livemig_device *ld, int bar, u64 off, u32 val)
{
	u64 v = val;

	return livemig_hw_rw(ld, bar, off, &v, 4, true);
}

/**
 * livemig_hw_read64() - read a 64-bit register of a trapped BAR
 * @ld: the device, inside livemig_hw_begin()/livemig_hw_end()
 * @bar: BAR index
 * @off: offset in the BAR
 * @val: the value read
 *
 * Return: 0 or -EINVAL for an access outside the BAR.
 */
int livemig_hw_read64(struct livemig_device *ld, int bar, u64 off, u64 *val)
{
	return livemig_hw_rw(ld, bar, off, val, 8, false);
}

/**
 * livemig_hw_write64() - write a 64-bit register of a trapped BAR
 * @ld: the device, inside livemig_hw_begin()/livemig_hw_end()
 * @bar: BAR index
 * @off: offset in the BAR
 * @val: value to write
 *
 * Return: 0 or -EINVAL for an access outside the BAR.
 */
int livemig_hw_write64(struct livemig_device *ld, int bar, u64 off, u64 val)
{
	return livemig_hw_rw(ld, bar, off, &val, 8, true);
}

/**
 * livemig_hw_iomem() - kernel mapping of part of a trapped or mapped BAR
 * @ld: the device, inside livemig_hw_begin()/livemig_hw_end()
 * @bar: BAR index (in the engine's @trapped_bars or @mapped_bars)
 * @off: offset in the BAR
 * @len: bytes the caller will access from there
 *
 * For bulk copies with memcpy_fromio()/memcpy_toio().
 *
 * Return: the address, or NULL if the range is outside the BAR.
 */
void __iomem *livemig_hw_iomem(struct livemig_device *ld, int bar, u64 off,
			       size_t len)
{
	lockdep_assert_held(&ld->core.memory_lock);
	return livemig_bar_io(ld, bar, off, len);
}

/* vfio_device_ops */

static const struct livemig_engine *livemig_find_engine(struct pci_dev *pdev)
{
	const struct pci_device_id *id = pci_match_id(livemig_pci_table, pdev);
	const struct livemig_engine *e;

	if (!id)
		return NULL;
	e = (const struct livemig_engine *)id->driver_data;
	return !e->match || e->match(pdev) ? e : NULL;
}

static int livemig_init_dev(struct vfio_device *vdev)
{
	struct livemig_device *ld = to_ld(vdev);
	struct pci_dev *pdev = to_pci_dev(vdev->dev);
	int ret;

	ld->engine = livemig_find_engine(pdev);
	if (!ld->engine)
		return -ENODEV;
	ld->priv = kzalloc(ld->engine->priv_size, GFP_KERNEL);
	if (!ld->priv)
		return -ENOMEM;
	ret = livemig_wt_init(ld, pdev);
	if (ret)
		goto err_free;
	livemig_state_init(ld);
	vdev->migration_flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P;
	if (livemig_precopy_enabled())
		vdev->migration_flags |= VFIO_MIGRATION_PRE_COPY;
	vdev->mig_ops = &livemig_mig_ops;
	vdev->log_ops = livemig_dirty_ops(ld);
	ret = vfio_pci_core_init_dev(vdev);
	if (ret)
		goto err_state;
	return 0;

err_state:
	livemig_state_destroy(ld);
	livemig_wt_destroy(ld);
err_free:
	kfree(ld->priv);
	return ret;
}

static void livemig_release_dev(struct vfio_device *vdev)
{
	struct livemig_device *ld = to_ld(vdev);

	livemig_state_destroy(ld);
	livemig_wt_destroy(ld);
	kfree(ld->priv);
	vfio_pci_core_release_dev(vdev);
}

static int livemig_open_device(struct vfio_device *vdev)
{
	struct livemig_device *ld = to_ld(vdev);
	const struct livemig_engine *e = ld->engine;
	struct vfio_pci_core_device *core = &ld->core;
	unsigned long bars = e->trapped_bars | e->mapped_bars;
	int bar, ret;

	ret = vfio_pci_core_enable(core);
	if (ret)
		return ret;

	for_each_set_bit(bar, &bars, PCI_STD_NUM_BARS) {
		ret = livemig_map_bar(core, bar);
		if (ret)
			goto err_disable;
	}

	livemig_lock(ld);
	ld->mig_state = VFIO_DEVICE_STATE_RUNNING;
	ret = livemig_hw_call(ld, "open", e->open ? e->open(ld) : 0);
	ld->open = !ret;
	livemig_unlock(ld);
	if (ret)
		goto err_disable;

	vfio_pci_core_finish_enable(core);
	/* finish_enable decides what may be mmapped: never a trapped BAR. */
	for_each_set_bit(bar, &e->trapped_bars, PCI_STD_NUM_BARS)
		core->bar_mmap_supported[bar] = false;
	return 0;

err_disable:
	vfio_pci_core_disable(core);
	return ret;
}

static void livemig_close_device(struct vfio_device *vdev)
{
	struct livemig_device *ld = to_ld(vdev);

	livemig_lock(ld);
	livemig_reset_state_locked(ld);
	if (ld->engine->close)
		ld->engine->close(ld);
	ld->open = false;
	livemig_unlock(ld);
	vfio_pci_core_close_device(vdev);
}

/*
 * VFIO_DEVICE_RESET for a function without a reset of its own: the engine
 * puts it back to power-on state and the migration state to RUNNING.
 */
static int livemig_engine_reset(struct livemig_device *ld)
{
	int ret;

	livemig_lock(ld);
	ret = livemig_hw_call(ld, "reset", ld->engine->reset(ld));
	livemig_reset_state_locked(ld);
	livemig_unlock(ld);
	return ret;
}

static bool livemig_engine_resets(struct livemig_device *ld)
{
	return ld->engine->reset && !ld->core.reset_works;
}

static bool livemig_trapped(struct livemig_device *ld, loff_t pos)
{
	unsigned int index = VFIO_PCI_OFFSET_TO_INDEX(pos);

	return index < PCI_STD_NUM_BARS &&
	       (ld->engine->trapped_bars & BIT(index));
}

/*
 * VFIO_DEVICE_IOEVENTFD: vfio-pci core writes the BAR itself when the
 * eventfd fires, never through livemig_rw(), so on a trapped BAR the write
 * would escape the engine (a doorbell held in P2P, the STOP refusal, DMA
 * dirty marking).  Refused there with core's errno for a range it does not
 * allow (the MSI-X table); other BARs and bad arguments are core's.
 */
static long livemig_ioeventfd(struct livemig_device *ld, unsigned long arg)
{
	const size_t minsz = offsetofend(struct vfio_device_ioeventfd, fd);
	struct vfio_device_ioeventfd ev;

	if (copy_from_user(&ev, (void __user *)arg, minsz))
		return -EFAULT;
	if (ev.argsz >= minsz && livemig_trapped(ld, ev.offset))
		return -EINVAL;
	return vfio_pci_core_ioctl(&ld->core.vdev, VFIO_DEVICE_IOEVENTFD, arg);
}

static long livemig_ioctl(struct vfio_device *vdev, unsigned int cmd,
			  unsigned long arg)
{
	struct livemig_device *ld = to_ld(vdev);
	struct vfio_device_info __user *uinfo = (void __user *)arg;
	u32 flags;
	long ret;

	switch (cmd) {
	case VFIO_DEVICE_IOEVENTFD:
		return livemig_ioeventfd(ld, arg);
	case VFIO_DEVICE_RESET:
		if (livemig_engine_resets(ld))
			return livemig_engine_reset(ld);
		break;
	case VFIO_DEVICE_GET_INFO:
		ret = vfio_pci_core_ioctl(vdev, cmd, arg);
		if (ret || !livemig_engine_resets(ld))
			return ret;
		/* Advertise the reset the engine provides. */
		if (get_user(flags, &uinfo->flags))
			return -EFAULT;
		return put_user(flags | VFIO_DEVICE_FLAGS_RESET, &uinfo->flags);
	}
	return vfio_pci_core_ioctl(vdev, cmd, arg);
}

/*
 * vfio's test for user BAR access: function in D0 and memory decode on in
 * the user's view of the command register.  A VF has no memory enable of
 * its own (its PF's SR-IOV capability has it; vfio-pci core sets
 * no_command_memory): its command register does not count.
 */
static bool livemig_mem_enabled(struct livemig_device *ld)
{
	u16 cmd = le16_to_cpu(*(__le16 *)&ld->core.vconfig[PCI_COMMAND]);

	return livemig_powered(ld->core.pdev) &&
	       (ld->core.pdev->no_command_memory ||
		(cmd & PCI_COMMAND_MEMORY));
}

/*
 * One naturally aligned access of 1, 2, 4 or 8 bytes to a trapped BAR.
 * The engine's hook runs under memory_lock (read), with memory decode
 * known to be on, so it may use the livemig_hw_*() accessors itself.
 */
static int livemig_trapped_one(struct livemig_device *ld, int bar, u64 off,
			       u64 *val, int size, bool write)
{
	const struct livemig_engine *e = ld->engine;
	int ret = LIVEMIG_PASS;

	lockdep_assert_held(&ld->state_mutex);
	down_read(&ld->core.memory_lock);
	if (!livemig_mem_enabled(ld)) {
		ret = -EIO;
		goto out;
	}
	if (write && e->bar_write)
		ret = e->bar_write(ld, bar, off, *val, size);
	else if (!write && e->bar_read)
		ret = e->bar_read(ld, bar, off, val, size);
	if (ret == LIVEMIG_PASS)
		ret = livemig_hw_rw(ld, bar, off, val, size, write);
out:
	up_read(&ld->core.memory_lock);
	return ret;
}

/*
 * Region data is the device's bytes, little-endian for PCI (vfio-pci
 * core's accessors are the big-endian ones on big-endian hosts so that
 * they move bytes unchanged); engines see register values.  A trapped
 * access as the user's buffer holds it:
 */
union livemig_access {
	u8 b;
	__le16 w;
	__le32 l;
	__le64 q;
};

static int livemig_user_to_val(u64 *val, const char __user *buf, int size)
{
	union livemig_access raw;

	if (copy_from_user(&raw, buf, size))
		return -EFAULT;
	switch (size) {
	case 1:
		*val = raw.b;
		break;
	case 2:
		*val = le16_to_cpu(raw.w);
		break;
	case 4:
		*val = le32_to_cpu(raw.l);
		break;
	default:
		*val = le64_to_cpu(raw.q);
	}
	return 0;
}

static int livemig_val_to_user(char __user *buf, u64 val, int size)
{
	union livemig_access raw;

	switch (size) {
	case 1:
		raw.b = val;
		break;
	case 2:
		raw.w = cpu_to_le16(val);
		break;
	case 4:
		raw.l = cpu_to_le32(val);
		break;
	default:
		raw.q = cpu_to_le64(val);
	}
	return copy_to_user(buf, &raw, size) ? -EFAULT : 0;
}

static ssize_t livemig_trapped_rw(struct livemig_device *ld, char __user *buf,
				  size_t count, loff_t *ppos, bool write)
{
	int bar = VFIO_PCI_OFFSET_TO_INDEX(*ppos);
	u64 off = *ppos & VFIO_PCI_OFFSET_MASK;
	u64 len = pci_resource_len(ld->core.pdev, bar);
	size_t done = 0;
	int ret = 0;

	if (off >= len)
		return -EINVAL;
	count = min_t(u64, count, len - off);

	livemig_lock(ld);
	if (!livemig_bar_iomem(&ld->core, bar)) {
		ret = -EIO;
		goto out;
	}
	while (done < count) {
		u64 val = 0;
		int size = 8;

		while (size > 1 && ((off & (size - 1)) || count - done < size))
			size >>= 1;
		if (write && livemig_user_to_val(&val, buf + done, size)) {
			ret = -EFAULT;
			break;
		}
		ret = livemig_trapped_one(ld, bar, off, &val, size, write);
		if (ret)
			break;
		if (!write && livemig_val_to_user(buf + done, val, size)) {
			ret = -EFAULT;
			break;
		}
		done += size;
		off += size;
	}
out:
	livemig_unlock(ld);
	if (!done)
		return ret;
	*ppos += done;
	return done;
}

static ssize_t livemig_read(struct vfio_device *vdev, char __user *buf,
			    size_t count, loff_t *ppos)
{
	struct livemig_device *ld = to_ld(vdev);

	if (livemig_trapped(ld, *ppos))
		return livemig_trapped_rw(ld, buf, count, ppos, false);
	return vfio_pci_core_read(vdev, buf, count, ppos);
}

static ssize_t livemig_write(struct vfio_device *vdev, const char __user *buf,
			     size_t count, loff_t *ppos)
{
	struct livemig_device *ld = to_ld(vdev);
	loff_t pos;
	ssize_t ret;

	if (livemig_trapped(ld, *ppos))
		return livemig_trapped_rw(ld, (char __user *)buf, count, ppos,
					  true);
	pos = *ppos;
	ret = vfio_pci_core_write(vdev, buf, count, ppos);
	if (ret > 0)
		livemig_wt_note_write(ld, pos, ret);
	return ret;
}

static int livemig_mmap(struct vfio_device *vdev, struct vm_area_struct *vma)
{
	struct livemig_device *ld = to_ld(vdev);

	int ret;

	if (livemig_trapped(ld, (loff_t)vma->vm_pgoff << PAGE_SHIFT))
		return -EINVAL;
	ret = vfio_pci_core_mmap(vdev, vma);
	if (ret)
		return ret;
	return livemig_wt_mmap(ld, vma);
}

static const struct vfio_device_ops livemig_ops = {
	.name = "livemig-vfio-pci",
	.init = livemig_init_dev,
	.release = livemig_release_dev,
	.open_device = livemig_open_device,
	.close_device = livemig_close_device,
	.ioctl = livemig_ioctl,
	.device_feature = vfio_pci_core_ioctl_feature,
	.read = livemig_read,
	.write = livemig_write,
	.mmap = livemig_mmap,
	.request = vfio_pci_core_request,
	.match = vfio_pci_core_match,
	LIVEMIG_MATCH_TOKEN_OP
	LIVEMIG_REGION_INFO_OP
	LIVEMIG_IOMMUFD_OPS
};

/* PCI driver */

static int livemig_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct livemig_device *ld;
	int ret;

	if (!livemig_find_engine(pdev))
		return -ENODEV;

	ld = vfio_alloc_device(livemig_device, core.vdev, &pdev->dev,
			       &livemig_ops);
	if (IS_ERR(ld))
		return PTR_ERR(ld);

	dev_set_drvdata(&pdev->dev, &ld->core);
	if (ld->engine->probe)
		ld->engine->probe(ld);
	livemig_debugfs_add(ld);
	ret = vfio_pci_core_register_device(&ld->core);
	if (ret)
		goto err_debugfs;
	pci_info(pdev, "livemig: %s engine; STOP_COPY P2P%s; DMA logging %s\n",
		 ld->engine->name,
		 livemig_precopy_enabled() ? " PRE_COPY" :
		 LIVEMIG_HAVE_PRECOPY ? " (PRE_COPY off: precopy=0)" :
		 " (no PRE_COPY in this kernel's VFIO)",
		 ld->core.vdev.log_ops ? "offered" : "not offered");
	return 0;

err_debugfs:
	livemig_debugfs_remove(ld);
	vfio_put_device(&ld->core.vdev);
	return ret;
}

static void livemig_remove(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *core = dev_get_drvdata(&pdev->dev);

	vfio_pci_core_unregister_device(core);
	livemig_debugfs_remove(container_of(core, struct livemig_device, core));
	vfio_put_device(&core->vdev);
}

/*
 * A reset of the function (FLR, bus reset) done by vfio-pci core under its
 * memory_lock: state.c records it and carries it out under state_mutex.
 */
static void livemig_pci_reset_done(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *core = dev_get_drvdata(&pdev->dev);

	livemig_reset_done(container_of(core, struct livemig_device, core));
}

static const struct pci_error_handlers livemig_err_handlers = {
	.reset_done = livemig_pci_reset_done,
	.error_detected = vfio_pci_core_aer_err_detected,
};

static struct pci_driver livemig_pci_driver = {
	.name = "livemig-vfio-pci",
	.id_table = livemig_pci_table,
	.probe = livemig_probe,
	.remove = livemig_remove,
	.err_handler = &livemig_err_handlers,
	.driver_managed_dma = true,
};

/* Runs the frees of livemig_kvfree_later(); drained by the module's exit. */
static struct workqueue_struct *livemig_wq;

struct livemig_free_work {
	struct work_struct work;
	void *p;
};

static void livemig_free_fn(struct work_struct *work)
{
	struct livemig_free_work *fw =
		container_of(work, struct livemig_free_work, work);

	kvfree(fw->p);
	kfree(fw);
}

/**
 * livemig_kvfree_later() - kvfree() memory from a worker
 * @p: memory from kvmalloc(), or NULL
 *
 * For bulk memory that a session drops in an arc inside a migration's
 * downtime (a resuming session ends in RESUMING -> STOP): giving back
 * tens of MiB of pages takes a time there that nothing needs to wait for
 * (the debug tier's KASAN kernel: about 200 ms for 64 MiB).  Without
 * memory for the work item it frees at once.
 */
void livemig_kvfree_later(void *p)
{
	struct livemig_free_work *fw;

	if (!p)
		return;
	fw = kmalloc(sizeof(*fw), GFP_KERNEL);
	if (!fw) {
		kvfree(p);
		return;
	}
	INIT_WORK(&fw->work, livemig_free_fn);
	fw->p = p;
	queue_work(livemig_wq, &fw->work);
}

static int __init livemig_init(void)
{
	int ret;

	livemig_wq = alloc_workqueue("livemig", WQ_UNBOUND, 0);
	if (!livemig_wq)
		return -ENOMEM;
	livemig_debugfs_init();
	ret = pci_register_driver(&livemig_pci_driver);
	if (ret)
		goto err_debugfs;
	return 0;

err_debugfs:
	livemig_debugfs_exit();
	destroy_workqueue(livemig_wq);
	return ret;
}
module_init(livemig_init);

static void __exit livemig_exit(void)
{
	pci_unregister_driver(&livemig_pci_driver);
	livemig_debugfs_exit();
	destroy_workqueue(livemig_wq);
}
module_exit(livemig_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vfio-pci variant driver with VFIO live migration");
LIVEMIG_IMPORT_NS_IOMMUFD();
