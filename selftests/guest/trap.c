// SPDX-License-Identifier: GPL-2.0
/*
 * A minimal IDT: every CPU exception prints its vector, error code and
 * registers on the console and exits through isa-debug-exit with
 * EXIT_EXCEPTION.  Interrupts stay disabled (the payload polls the
 * device) except while the "msi" option waits for an MSI: MSI_VECTOR
 * then goes to msi_handler(), every other vector to stray_handler().
 */
#include "lib.h"

struct exc_frame {
	u32 edi, esi, ebp, esp_dummy, ebx, edx, ecx, eax;	/* pushal */
	u32 vector, error;
	u32 eip, cs, eflags;
};

struct idt_gate {
	u16 off_lo;
	u16 sel;
	u8 zero;
	u8 type;
	u16 off_hi;
} __attribute__((packed));

struct idt_desc {
	u16 limit;
	u32 base;
} __attribute__((packed));

extern const u32 isr_table[32];
extern const char isr_msi[], isr_stray[];
static struct idt_gate idt[256] __attribute__((aligned(8)));

static void idt_set(u32 vec, u32 handler)
{
	idt[vec].off_lo = handler & 0xffff;
	idt[vec].sel = 0x08;
	idt[vec].zero = 0;
	idt[vec].type = 0x8e;		/* present, ring 0, 32-bit interrupt gate */
	idt[vec].off_hi = handler >> 16;
}

void idt_setup(void)
{
	struct idt_desc desc = { sizeof(idt) - 1, (u32)idt };
	u32 i;

	for (i = 0; i < ARRAY_SIZE(idt); i++)
		idt_set(i, i < 32 ? isr_table[i] : (u32)isr_stray);
	idt_set(MSI_VECTOR, (u32)isr_msi);
	asm volatile("lidt %0" : : "m"(desc));
}

volatile u32 msi_count, stray_count;

void msi_handler(void)
{
	msi_count++;
	mmio_write32(LAPIC_BASE + LAPIC_EOI, 0);
}

void stray_handler(void)
{
	stray_count++;
	mmio_write32(LAPIC_BASE + LAPIC_EOI, 0);
}

void __attribute__((noreturn)) exception_handler(struct exc_frame *f)
{
	u32 cr2;

	asm volatile("mov %%cr2, %0" : "=r"(cr2));
	printf("\nLMG EXCEPTION vector=%u error=0x%x eip=0x%08x cs=0x%x eflags=0x%08x cr2=0x%08x\n",
	       f->vector, f->error, f->eip, f->cs, f->eflags, cr2);
	printf("LMG EXCEPTION eax=0x%08x ebx=0x%08x ecx=0x%08x edx=0x%08x esi=0x%08x edi=0x%08x ebp=0x%08x\n",
	       f->eax, f->ebx, f->ecx, f->edx, f->esi, f->edi, f->ebp);
	printf("LMG RESULT FAIL reason=exception\n");
	guest_exit(EXIT_EXCEPTION);
}
