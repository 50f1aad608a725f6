//! Classic BPF as seccomp runs it: instructions, an assembler with symbolic forward jumps that
//! inserts `ja` trampolines where a conditional jump cannot reach (its offsets are 8-bit), and a
//! disassembler.
use std::fmt::{self, Write as _};

/// `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

pub const BPF_LD: u16 = 0x00;
pub const BPF_ALU: u16 = 0x04;
pub const BPF_JMP: u16 = 0x05;
pub const BPF_RET: u16 = 0x06;
pub const BPF_W: u16 = 0x00;
pub const BPF_ABS: u16 = 0x20;
pub const BPF_AND: u16 = 0x50;
pub const BPF_JA: u16 = 0x00;
pub const BPF_JEQ: u16 = 0x10;
pub const BPF_JGT: u16 = 0x20;
pub const BPF_JGE: u16 = 0x30;
pub const BPF_JSET: u16 = 0x40;
pub const BPF_K: u16 = 0x00;

/// The kernel refuses longer programs (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

impl SockFilter {
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0; 8];
        b[0..2].copy_from_slice(&self.code.to_le_bytes());
        b[2] = self.jt;
        b[3] = self.jf;
        b[4..8].copy_from_slice(&self.k.to_le_bytes());
        b
    }

    pub fn from_bytes(b: [u8; 8]) -> SockFilter {
        SockFilter {
            code: u16::from_le_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// Where a jump goes: the next instruction, a label placed later, or a return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JumpTo {
    Next,
    Label(usize),
    /// Any `ret` of this value after the jump: the assembler places one within reach.
    Return(u32),
    /// Over the instructions the assembler inserted after the jump.
    Skip(u8),
}

impl JumpTo {
    /// The same target seen from one instruction earlier: a trampoline now sits in between.
    fn past_trampoline(self) -> JumpTo {
        match self {
            JumpTo::Next => JumpTo::Skip(1),
            JumpTo::Skip(n) => JumpTo::Skip(n + 1),
            label => label,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Item {
    /// Load, ALU and return instructions.
    Plain(SockFilter),
    /// A conditional jump `code` on `k`.
    Jump {
        code: u16,
        k: u32,
        jt: JumpTo,
        jf: JumpTo,
    },
    /// An unconditional jump.
    Always(JumpTo),
    /// Marks the position of a label.
    Label(usize),
}

impl Item {
    /// Whether the instruction after this one is reached only by a jump to it.
    fn ends_flow(&self) -> bool {
        match *self {
            Item::Plain(insn) => insn.code == BPF_RET | BPF_K,
            Item::Always(_) => true,
            Item::Jump { jt, jf, .. } => jt != JumpTo::Next && jf != JumpTo::Next,
            Item::Label(_) => false,
        }
    }
}

/// The farthest a conditional jump reaches: its offsets are 8-bit.
const REACH: usize = 255;

/// Builds a program from instructions with symbolic forward jumps.
#[derive(Default)]
pub struct Assembler {
    items: Vec<Item>,
    labels: usize,
}

impl Assembler {
    pub fn new_label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }

    pub fn place(&mut self, label: usize) {
        self.items.push(Item::Label(label));
    }

    pub fn load_abs(&mut self, offset: u32) {
        self.items.push(Item::Plain(SockFilter {
            code: BPF_LD | BPF_W | BPF_ABS,
            jt: 0,
            jf: 0,
            k: offset,
        }));
    }

    pub fn and(&mut self, k: u32) {
        self.items.push(Item::Plain(SockFilter {
            code: BPF_ALU | BPF_AND | BPF_K,
            jt: 0,
            jf: 0,
            k,
        }));
    }

    pub fn ret(&mut self, k: u32) {
        self.items.push(Item::Plain(SockFilter {
            code: BPF_RET | BPF_K,
            jt: 0,
            jf: 0,
            k,
        }));
    }

    /// `if (A <op> k) goto jt else goto jf`, op one of BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET.
    pub fn jump(&mut self, op: u16, k: u32, jt: JumpTo, jf: JumpTo) {
        self.items.push(Item::Jump {
            code: BPF_JMP | op | BPF_K,
            k,
            jt,
            jf,
        });
    }

    /// Continues at `target`: a `ret` for a return, nothing for the next instruction or a label
    /// placed right here, else a `ja`.
    pub fn goto(&mut self, target: JumpTo) {
        match target {
            JumpTo::Return(k) => self.ret(k),
            JumpTo::Next => {}
            target => self.items.push(Item::Always(target)),
        }
    }

    /// Resolves returns and labels. Conditional jumps whose target is more than 255
    /// instructions away get a trampoline `ja` right after them; that can push other jumps out
    /// of range, so repeat.
    pub fn finish(mut self) -> Vec<SockFilter> {
        self.place_returns();
        self.drop_jumps_to_next();
        loop {
            let positions = self.positions();
            let mut fixed = Vec::with_capacity(self.items.len());
            let mut changed = false;
            let mut pc = 0usize;
            for item in &self.items {
                match *item {
                    Item::Jump { code, k, jt, jf } => {
                        let reach = |t: JumpTo| match t {
                            JumpTo::Label(l) => positions[l] - (pc + 1) <= REACH,
                            _ => true,
                        };
                        match (reach(jt), reach(jf)) {
                            (true, true) => fixed.push(*item),
                            (false, true) => {
                                fixed.push(Item::Jump {
                                    code,
                                    k,
                                    jt: JumpTo::Next,
                                    jf: jf.past_trampoline(),
                                });
                                fixed.push(Item::Always(jt));
                                changed = true;
                            }
                            (true, false) => {
                                fixed.push(Item::Jump {
                                    code,
                                    k,
                                    jt: jt.past_trampoline(),
                                    jf: JumpTo::Next,
                                });
                                fixed.push(Item::Always(jf));
                                changed = true;
                            }
                            (false, false) => {
                                fixed.push(Item::Jump {
                                    code,
                                    k,
                                    jt: JumpTo::Next,
                                    jf: JumpTo::Skip(1),
                                });
                                fixed.push(Item::Always(jt));
                                fixed.push(Item::Always(jf));
                                changed = true;
                            }
                        }
                        pc += 1;
                    }
                    Item::Label(_) => fixed.push(*item),
                    _ => {
                        fixed.push(*item);
                        pc += 1;
                    }
                }
            }
            self.items = fixed;
            if !changed {
                break;
            }
        }
        self.emit()
    }

    /// Turns every [`JumpTo::Return`] into a label on a `ret` of that value. A jump uses the
    /// first `ret` of its value after it; where none comes within reach, the returns still
    /// owed are placed together as an island, as late as the earliest of them allows. An
    /// island placed where the flow would run into it is jumped over by the jump before it
    /// (its "next" becomes "skip the island"), or else by a `ja`. So a long chain of jumps to
    /// one return costs one `ret` per 255 instructions, and a return shared by many jumps
    /// costs nothing more than the first one.
    fn place_returns(&mut self) {
        let items = std::mem::take(&mut self.items);
        let mut out: Vec<Item> = Vec::with_capacity(items.len());
        // Returns owed: value → (label of its next `ret`, pc of the first jump to it).
        let mut owed: Vec<(u32, usize, usize)> = Vec::new();
        let mut pc = 0usize;
        for item in items {
            let is_insn = !matches!(item, Item::Label(_));
            // The island goes before this instruction unless it could still come after it:
            // this one may add two debts, and the island may need a jump over it.
            if is_insn {
                let due = owed.iter().map(|&(_, _, from)| from).min();
                if due.is_some_and(|from| pc + owed.len() + 2 > from + REACH) {
                    pc += self.island(&mut out, &mut owed);
                }
            }
            let item = match item {
                Item::Plain(insn) if insn.code == BPF_RET | BPF_K => {
                    if let Some(i) = owed.iter().position(|&(k, _, _)| k == insn.k) {
                        let (_, label, _) = owed.swap_remove(i);
                        out.push(Item::Label(label));
                    }
                    item
                }
                Item::Jump { code, k, jt, jf } => {
                    let mut owe = |t: JumpTo| match t {
                        JumpTo::Return(value) => {
                            let label = match owed.iter().find(|&&(k, _, _)| k == value) {
                                Some(&(_, label, _)) => label,
                                None => {
                                    let label = self.new_label();
                                    owed.push((value, label, pc));
                                    label
                                }
                            };
                            JumpTo::Label(label)
                        }
                        other => other,
                    };
                    Item::Jump {
                        code,
                        k,
                        jt: owe(jt),
                        jf: owe(jf),
                    }
                }
                Item::Always(JumpTo::Return(value)) => Item::Plain(SockFilter {
                    code: BPF_RET | BPF_K,
                    jt: 0,
                    jf: 0,
                    k: value,
                }),
                other => other,
            };
            out.push(item);
            if is_insn {
                pc += 1;
            }
        }
        if !owed.is_empty() {
            self.island(&mut out, &mut owed);
        }
        self.items = out;
    }

    /// Places every owed return after the last instruction of `out` (before the labels that
    /// follow it, which belong to the next one); returns how many instructions that added.
    fn island(&mut self, out: &mut Vec<Item>, owed: &mut Vec<(u32, usize, usize)>) -> usize {
        owed.sort_by_key(|&(_, _, from)| from);
        let len = owed.len();
        let mut added = len;
        let labels_at = out
            .iter()
            .rposition(|item| !matches!(item, Item::Label(_)))
            .map_or(0, |i| i + 1);
        let labels: Vec<Item> = out.drain(labels_at..).collect();
        // Whatever runs into the island must jump over it.
        let over = u8::try_from(len).expect("at most a few distinct returns are owed");
        match out.last_mut() {
            Some(last) if last.ends_flow() => {}
            Some(Item::Jump { jt, jf, .. }) if *jt == JumpTo::Next || *jf == JumpTo::Next => {
                for t in [jt, jf] {
                    if *t == JumpTo::Next {
                        *t = JumpTo::Skip(over);
                    }
                }
            }
            _ => {
                out.push(Item::Always(JumpTo::Skip(over)));
                added += 1;
            }
        }
        for (value, label, _) in owed.drain(..) {
            out.push(Item::Label(label));
            out.push(Item::Plain(SockFilter {
                code: BPF_RET | BPF_K,
                jt: 0,
                jf: 0,
                k: value,
            }));
        }
        out.extend(labels);
        added
    }

    /// A `ja` to a label placed right after it does nothing.
    fn drop_jumps_to_next(&mut self) {
        let mut keep = vec![true; self.items.len()];
        for (i, item) in self.items.iter().enumerate() {
            if let Item::Always(JumpTo::Label(l)) = item {
                keep[i] = !self.items[i + 1..]
                    .iter()
                    .take_while(|next| matches!(next, Item::Label(_)))
                    .any(|next| matches!(next, Item::Label(m) if m == l));
            }
        }
        let mut keep = keep.into_iter();
        self.items.retain(|_| keep.next().unwrap_or(true));
    }

    fn positions(&self) -> Vec<usize> {
        let mut positions = vec![usize::MAX; self.labels];
        let mut pc = 0;
        for item in &self.items {
            match item {
                Item::Label(l) => positions[*l] = pc,
                _ => pc += 1,
            }
        }
        positions
    }

    fn emit(&self) -> Vec<SockFilter> {
        let positions = self.positions();
        let mut out = Vec::new();
        for item in &self.items {
            let pc = out.len();
            let offset = |t: JumpTo| -> u32 {
                match t {
                    JumpTo::Next => 0,
                    JumpTo::Skip(n) => u32::from(n),
                    JumpTo::Label(l) => {
                        let to = positions[l];
                        assert!(
                            to != usize::MAX && to > pc,
                            "label {l} is not placed after {pc}"
                        );
                        (to - pc - 1) as u32
                    }
                    JumpTo::Return(_) => unreachable!("returns are placed before emitting"),
                }
            };
            match *item {
                Item::Plain(insn) => out.push(insn),
                Item::Jump { code, k, jt, jf } => out.push(SockFilter {
                    code,
                    jt: u8::try_from(offset(jt)).expect("trampolines keep jumps in range"),
                    jf: u8::try_from(offset(jf)).expect("trampolines keep jumps in range"),
                    k,
                }),
                Item::Always(t) => out.push(SockFilter {
                    code: BPF_JMP | BPF_JA,
                    jt: 0,
                    jf: 0,
                    k: offset(t),
                }),
                Item::Label(_) => {}
            }
        }
        out
    }
}

/// `struct seccomp_data` as a filter sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    fn word(&self, offset: u32) -> Option<u32> {
        let lo = |v: u64| v as u32;
        let hi = |v: u64| (v >> 32) as u32;
        Some(match offset {
            0 => self.nr,
            4 => self.arch,
            8 => lo(self.instruction_pointer),
            12 => hi(self.instruction_pointer),
            16..=60 if offset.is_multiple_of(4) => {
                let arg = self.args[((offset - 16) / 8) as usize];
                if (offset - 16).is_multiple_of(8) {
                    lo(arg)
                } else {
                    hi(arg)
                }
            }
            _ => return None,
        })
    }
}

/// Runs a filter the way the kernel's seccomp does (only the instructions seccomp accepts),
/// returning the action value. Used to check compiled filters without installing them.
pub fn run(program: &[SockFilter], data: &SeccompData) -> Result<u32, String> {
    run_traced(program, data).map(|trace| trace.ret)
}

/// The result of a run and the instructions it went through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    pub ret: u32,
    pub path: Vec<usize>,
}

impl Trace {
    /// Whether the path loaded an argument word: the kernel's action cache can only answer for
    /// syscalls whose path never does.
    pub fn loaded_argument(&self, program: &[SockFilter]) -> bool {
        self.path
            .iter()
            .any(|&pc| program[pc].code == BPF_LD | BPF_W | BPF_ABS && program[pc].k >= 16)
    }
}

/// Like [`run`], also returning the path taken.
pub fn run_traced(program: &[SockFilter], data: &SeccompData) -> Result<Trace, String> {
    let mut path = Vec::new();
    let mut a: u32 = 0;
    let mut pc = 0usize;
    while let Some(insn) = program.get(pc) {
        path.push(pc);
        pc += 1;
        let class = insn.code & 0x07;
        match class {
            BPF_LD if insn.code == BPF_LD | BPF_W | BPF_ABS => {
                a = data
                    .word(insn.k)
                    .ok_or_else(|| format!("bad load offset {} at {}", insn.k, pc - 1))?;
            }
            BPF_ALU if insn.code == BPF_ALU | BPF_AND | BPF_K => a &= insn.k,
            BPF_JMP => {
                let op = insn.code & 0xf0;
                if op == BPF_JA {
                    pc += insn.k as usize;
                    continue;
                }
                let taken = match op {
                    BPF_JEQ => a == insn.k,
                    BPF_JGT => a > insn.k,
                    BPF_JGE => a >= insn.k,
                    BPF_JSET => a & insn.k != 0,
                    _ => return Err(format!("unsupported jump {:#x} at {}", insn.code, pc - 1)),
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            BPF_RET if insn.code == BPF_RET | BPF_K => return Ok(Trace { ret: insn.k, path }),
            _ => {
                return Err(format!(
                    "unsupported instruction {:#x} at {}",
                    insn.code,
                    pc - 1
                ))
            }
        }
    }
    Err("ran off the end of the program".into())
}

/// One line per instruction, libseccomp's `scmp_bpf_disasm` style.
pub fn disassemble(program: &[SockFilter]) -> String {
    let mut out = String::from(" line  OP   JT   JF   K\n=================================\n");
    for (pc, insn) in program.iter().enumerate() {
        let _ = write!(
            out,
            " {pc:04}: 0x{:02x} 0x{:02x} 0x{:02x} 0x{:08x}",
            insn.code, insn.jt, insn.jf, insn.k
        );
        let _ = writeln!(out, "   {}", Describe(pc, insn));
    }
    out
}

struct Describe<'a>(usize, &'a SockFilter);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (pc, insn) = (self.0, self.1);
        let target = |off: u8| pc + 1 + usize::from(off);
        match insn.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => match insn.k {
                0 => write!(f, "ld  $data[0]  (nr)"),
                4 => write!(f, "ld  $data[4]  (arch)"),
                k => write!(f, "ld  $data[{k}]"),
            },
            c if c == BPF_ALU | BPF_AND | BPF_K => write!(f, "and 0x{:08x}", insn.k),
            c if c == BPF_JMP | BPF_JA => write!(f, "jmp {:04}", pc + 1 + insn.k as usize),
            c if c & 0x07 == BPF_JMP => {
                let op = match c & 0xf0 {
                    BPF_JEQ => "jeq",
                    BPF_JGT => "jgt",
                    BPF_JGE => "jge",
                    _ => "jset",
                };
                write!(
                    f,
                    "{op} {:<10} true:{:04} false:{:04}",
                    insn.k,
                    target(insn.jt),
                    target(insn.jf)
                )
            }
            c if c == BPF_RET | BPF_K => write!(f, "ret {}", super::action_name(insn.k)),
            _ => write!(f, "?"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_jumps_get_trampolines() {
        let mut asm = Assembler::default();
        let far = asm.new_label();
        asm.load_abs(0);
        asm.jump(BPF_JEQ, 7, JumpTo::Label(far), JumpTo::Next);
        for _ in 0..300 {
            asm.ret(1);
        }
        asm.place(far);
        asm.ret(2);
        let program = asm.finish();
        assert_eq!(program.len(), 304);
        let data = |nr| SeccompData {
            nr,
            ..Default::default()
        };
        assert_eq!(run(&program, &data(7)), Ok(2));
        assert_eq!(run(&program, &data(8)), Ok(1));
    }

    #[test]
    fn bytes_round_trip() {
        let insn = SockFilter {
            code: 0x15,
            jt: 1,
            jf: 2,
            k: 0xc000003e,
        };
        assert_eq!(insn.to_bytes(), [0x15, 0, 1, 2, 0x3e, 0, 0, 0xc0]);
        assert_eq!(SockFilter::from_bytes(insn.to_bytes()), insn);
    }
}
