/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Entry point of the bare-metal migration test payload.
 *
 * A multiboot (v1) loader (QEMU's -kernel) jumps to _start in 32-bit
 * protected mode, paging off, interrupts off, EAX = 0x2badb002 and EBX =
 * the multiboot information.  The loader's GDT is not guaranteed to stay
 * valid, so load our own flat one, clear .bss, set up a stack and an IDT
 * that turns any CPU exception into a readable report and a fail exit
 * instead of a silent triple fault, then call payload_main(magic, mbi).
 */

#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00000003	/* page-align modules, want mem info */

#define KERNEL_CS	0x08
#define KERNEL_DS	0x10

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .text.entry, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	movl	%eax, %esi		/* multiboot magic */
	movl	%ebx, %edi		/* multiboot info */

	lgdt	gdt_desc
	ljmp	$KERNEL_CS, $1f
1:	movw	$KERNEL_DS, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss

	/* The stack lives in .bss: clear .bss before using it. */
	movl	%edi, %ebp
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	xorl	%eax, %eax
	rep stosb
	movl	%ebp, %edi

	movl	$stack_top, %esp
	xorl	%ebp, %ebp

	call	idt_setup

	pushl	%edi
	pushl	%esi
	call	payload_main
	/* payload_main never returns; if it does, stop here. */
2:	cli
	hlt
	jmp	2b

/*
 * Exception stubs: vectors that push no error code get a dummy 0 so that
 * every frame has the same layout for exception_handler().
 */
.macro ISR_NOERR vec
	.balign 8
isr_\vec:
	pushl	$0
	pushl	$\vec
	jmp	isr_common
.endm

.macro ISR_ERR vec
	.balign 8
isr_\vec:
	pushl	$\vec
	jmp	isr_common
.endm

ISR_NOERR 0
ISR_NOERR 1
ISR_NOERR 2
ISR_NOERR 3
ISR_NOERR 4
ISR_NOERR 5
ISR_NOERR 6
ISR_NOERR 7
ISR_ERR   8
ISR_NOERR 9
ISR_ERR   10
ISR_ERR   11
ISR_ERR   12
ISR_ERR   13
ISR_ERR   14
ISR_NOERR 15
ISR_NOERR 16
ISR_ERR   17
ISR_NOERR 18
ISR_NOERR 19
ISR_NOERR 20
ISR_ERR   21
ISR_NOERR 22
ISR_NOERR 23
ISR_NOERR 24
ISR_NOERR 25
ISR_NOERR 26
ISR_NOERR 27
ISR_NOERR 28
ISR_ERR   29
ISR_ERR   30
ISR_NOERR 31

isr_common:
	pushal
	pushl	%esp			/* struct exc_frame * */
	call	exception_handler	/* does not return */
3:	cli
	hlt
	jmp	3b

/*
 * External interrupts (only with the payload's "msi" option, and only
 * while it waits for one with interrupts on): MSI_VECTOR calls
 * msi_handler(), which counts it and signals end of interrupt; any other
 * vector is counted as stray by stray_handler().
 */
	.globl	isr_msi
	.balign 8
isr_msi:
	pushal
	cld
	call	msi_handler
	popal
	iret

	.globl	isr_stray
	.balign 8
isr_stray:
	pushal
	cld
	call	stray_handler
	popal
	iret

	.section .rodata
	.balign 4
	.globl isr_table
isr_table:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.long isr_\n
	.endr

	.balign 8
gdt:
	.quad	0x0000000000000000	/* null */
	.quad	0x00cf9a000000ffff	/* 0x08: flat 32-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: flat 32-bit data */
gdt_end:

gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt

	.section .bss
	.balign 16
stack:
	.skip	16384
stack_top:

	.section .note.GNU-stack, "", @progbits
