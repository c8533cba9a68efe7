//! The scenario language's commands, in one table: each command's name,
//! usage, the shape of its arguments, what it stands for, and the function
//! that reads it. Parsing, the usage text of errors, the suggestions for a
//! misspelt command and the command list of `docs/dma-model.md`
//! ([`reference`]) all come from this table.

use std::fmt::Write as _;

use super::ast::{Data, DeviceLine, Op, SgEntry, SgSet, SyncFor};
use super::lex::{Line, MAX_DATA, ScenarioError, Tok, parse_number};
use crate::addr::DmaMask;
use crate::calls::MapFunc;
use crate::config::{
    Coherence, DeviceConfig, IommuMode, MachineConfig, Maintenance, MemKind, Speculation, Zone,
};
use crate::dmabuf::FenceUsage;
use crate::engine::Status;

type Parsed<T> = Result<T, ScenarioError>;

/// What the header lines build.
pub(crate) struct Header {
    pub(crate) machine: MachineConfig,
    pub(crate) devices: Vec<DeviceLine>,
    saw_machine: bool,
}

impl Default for Header {
    fn default() -> Self {
        Self {
            machine: MachineConfig {
                trace: true,
                ..MachineConfig::default()
            },
            devices: Vec::new(),
            saw_machine: false,
        }
    }
}

/// What a command's line becomes.
pub(crate) enum Action {
    /// A header line: it describes the machine, before the first step.
    Header(fn(&Line, &mut Header) -> Parsed<()>),
    /// A step of the driver.
    Step(fn(&Line) -> Parsed<Op>),
}

/// A command of the scenario language.
pub(crate) struct Command {
    /// The word that starts the line.
    pub(crate) name: &'static str,
    /// The usage, shown by errors and in the documentation.
    pub(crate) usage: &'static str,
    /// Fewest and most positional arguments (flags not counted).
    pub(crate) args: (usize, usize),
    /// The `key=value` options it takes.
    pub(crate) keys: &'static [&'static str],
    /// The bare-word flags it takes.
    pub(crate) flags: &'static [&'static str],
    /// The kernel call it stands for, or its effect.
    pub(crate) doc: &'static str,
    /// How its line is read.
    pub(crate) action: Action,
}

impl Command {
    /// Checks the line's shape against the command's.
    pub(crate) fn check(&self, line: &Line) -> Parsed<()> {
        line.check(self.args.0..=self.args.1, self.keys, self.flags, self.usage)
    }
}

macro_rules! commands {
    ($($name:literal $action:ident($f:path) args $lo:literal..=$hi:literal
        keys [$($k:literal),*] flags [$($fl:literal),*]
        usage $usage:literal doc $doc:literal;)*) => {
        /// Every command, in the order suggestions are made.
        pub(crate) static COMMANDS: &[Command] = &[$(Command {
            name: $name,
            usage: $usage,
            args: ($lo, $hi),
            keys: &[$($k),*],
            flags: &[$($fl),*],
            doc: $doc,
            action: Action::$action($f),
        },)*];
    };
}

commands! {
    "alloc" Step(alloc) args 2..=2 keys ["align", "zone", "kind"] flags []
        usage "alloc NAME SIZE [align=N] [zone=dma32|normal] [kind=kmalloc|stack|vmalloc|rodata|mmio]"
        doc "`kmalloc`; `kind` makes it a variable on the stack, `vmalloc` memory (scattered pages), kernel rodata, or device memory (a BAR)";
    "free" Step(free) args 1..=1 keys [] flags []
        usage "free NAME"
        doc "`kfree`";
    "write" Step(write) args 2..=2 keys [] flags []
        usage "write NAME[+OFF] DATA"
        doc "CPU store through the cache; NAME is a buffer, a mapping (its buffer), a coherent buffer or a DMA-BUF";
    "read" Step(read) args 2..=2 keys [] flags []
        usage "read NAME[+OFF] LEN"
        doc "CPU load through the cache";
    "expect" Step(expect) args 2..=2 keys [] flags []
        usage "expect NAME[+OFF] DATA"
        doc "CPU load compared with DATA (`expect-mismatch` when it differs)";
    "alloc-coherent" Step(alloc_coherent) args 3..=3 keys [] flags []
        usage "alloc-coherent NAME DEVICE SIZE"
        doc "`dma_alloc_coherent`";
    "free-coherent" Step(free_coherent) args 1..=1 keys ["size", "cpu-offset"] flags []
        usage "free-coherent NAME [size=N] [cpu-offset=N]"
        doc "`dma_free_coherent`";
    "alloc-noncoherent" Step(alloc_noncoherent) args 4..=4 keys [] flags ["pages"]
        usage "alloc-noncoherent NAME DEVICE SIZE DIRECTION [pages]"
        doc "`dma_alloc_noncoherent` (`dma_alloc_pages` with `pages`): cacheable memory the CPU owns until a sync for the device";
    "free-noncoherent" Step(free_noncoherent) args 1..=1 keys ["size", "cpu-offset"] flags []
        usage "free-noncoherent NAME [size=N] [cpu-offset=N]"
        doc "`dma_free_noncoherent` or `dma_free_pages`";
    "dma-pool" Step(dma_pool) args 3..=3 keys ["align"] flags []
        usage "dma-pool POOL DEVICE SIZE [align=N]"
        doc "`dma_pool_create`: blocks of coherent memory";
    "pool-alloc" Step(pool_alloc) args 2..=2 keys [] flags []
        usage "pool-alloc NAME POOL"
        doc "`dma_pool_alloc`";
    "pool-free" Step(pool_free) args 1..=1 keys ["pool"] flags []
        usage "pool-free NAME [pool=POOL]"
        doc "`dma_pool_free`, to the block's pool or the pool named";
    "pool-destroy" Step(pool_destroy) args 1..=1 keys [] flags []
        usage "pool-destroy POOL"
        doc "`dma_pool_destroy`";
    "map-resource" Step(map_resource) args 4..=4 keys ["size"] flags []
        usage "map-resource MAPPING DEVICE NAME[+OFF] DIRECTION [size=N]"
        doc "`dma_map_resource` of device memory (`alloc NAME SIZE kind=mmio`); `unmap` undoes it";
    "set-mask" Step(set_mask) args 2..=2 keys [] flags []
        usage "set-mask DEVICE BITS"
        doc "`dma_set_mask_and_coherent`";
    "map" Step(map) args 4..=4 keys ["size", "attrs"] flags ["page"]
        usage "map MAPPING DEVICE NAME[+OFF] DIRECTION [size=N] [attrs=ATTRS] [page]"
        doc "`dma_map_single` (`dma_map_page` with `page`)";
    "mapping-error" Step(mapping_error) args 1..=1 keys [] flags []
        usage "mapping-error MAPPING"
        doc "`dma_mapping_error`";
    "unmap" Step(unmap) args 1..=1 keys ["size", "dir", "as", "attrs"] flags []
        usage "unmap MAPPING [size=N] [dir=DIRECTION] [as=FUNCTION] [attrs=ATTRS]"
        doc "`dma_unmap_single` (or the function named); defaults are the mapping's";
    "unmap-addr" Step(unmap_addr) args 4..=4 keys [] flags []
        usage "unmap-addr DEVICE ADDRESS SIZE DIRECTION"
        doc "`dma_unmap_single` of an arbitrary address";
    "map-sg" Step(map_sg) args 4..=4096 keys ["entries", "attrs"] flags []
        usage "map-sg MAPPING DEVICE DIRECTION NAME[+OFF][:LEN]... [entries=buf|page] [attrs=ATTRS]"
        doc "`dma_map_sg` of entries set with `sg_set_buf` (the default) or `sg_set_page` (vmalloc memory page by page)";
    "unmap-sg" Step(unmap_sg) args 1..=1 keys ["nents", "dir", "attrs"] flags []
        usage "unmap-sg MAPPING [nents=N] [dir=DIRECTION] [attrs=ATTRS]"
        doc "`dma_unmap_sg`";
    "sync-for-cpu" Step(sync_for_cpu) args 1..=1 keys ["size", "dir"] flags []
        usage "sync-for-cpu MAPPING[+OFF] [size=N] [dir=DIRECTION]"
        doc "`dma_sync_single_for_cpu` (an offset makes it a range sync)";
    "sync-for-device" Step(sync_for_device) args 1..=1 keys ["size", "dir"] flags []
        usage "sync-for-device MAPPING[+OFF] [size=N] [dir=DIRECTION]"
        doc "`dma_sync_single_for_device` (an offset makes it a range sync)";
    "sync-sg-for-cpu" Step(sync_sg_for_cpu) args 1..=1 keys ["nents", "dir"] flags []
        usage "sync-sg-for-cpu MAPPING [nents=N] [dir=DIRECTION]"
        doc "`dma_sync_sg_for_cpu`";
    "sync-sg-for-device" Step(sync_sg_for_device) args 1..=1 keys ["nents", "dir"] flags []
        usage "sync-sg-for-device MAPPING [nents=N] [dir=DIRECTION]"
        doc "`dma_sync_sg_for_device`";
    "device-read" Step(device_read) args 3..=3 keys [] flags []
        usage "device-read DEVICE ADDRESS LEN"
        doc "the device reads by DMA";
    "device-write" Step(device_write) args 3..=3 keys [] flags []
        usage "device-write DEVICE ADDRESS DATA"
        doc "the device writes by DMA";
    "device-expect" Step(device_expect) args 3..=3 keys [] flags []
        usage "device-expect DEVICE ADDRESS DATA"
        doc "the device reads by DMA, compared with DATA";
    "engine" Step(engine) args 2..=2 keys ["entries"] flags []
        usage "engine DEVICE RING [entries=N]"
        doc "point the device's DMA engine at a ring in a coherent buffer (16 entries by default)";
    "desc" Step(desc) args 5..=5 keys [] flags ["irq"]
        usage "desc RING INDEX SOURCE DESTINATION LEN [irq]"
        doc "the CPU writes a descriptor";
    "doorbell" Step(doorbell) args 2..=2 keys [] flags []
        usage "doorbell DEVICE TAIL"
        doc "the CPU writes the tail register; the engine runs";
    "expect-status" Step(expect_status) args 3..=3 keys [] flags []
        usage "expect-status RING INDEX pending|done|error"
        doc "the CPU polls a descriptor's status word";
    "expect-irqs" Step(expect_irqs) args 2..=2 keys [] flags []
        usage "expect-irqs DEVICE COUNT"
        doc "count the engine's interrupts";
    "iommu-flush" Step(iommu_flush) args 0..=0 keys [] flags []
        usage "iommu-flush"
        doc "flush the lazy queues";
    "remove-device" Step(remove_device) args 1..=1 keys [] flags []
        usage "remove-device DEVICE"
        doc "unbind: leaks are reported, mappings torn down";
    "dmabuf" Step(dmabuf) args 3..=3 keys [] flags []
        usage "dmabuf NAME EXPORTER SIZE"
        doc "`dma_buf_export`";
    "attach" Step(attach) args 3..=3 keys [] flags []
        usage "attach ATTACHMENT DMABUF DEVICE"
        doc "`dma_buf_attach`";
    "map-attachment" Step(map_attachment) args 3..=3 keys [] flags []
        usage "map-attachment MAPPING ATTACHMENT DIRECTION"
        doc "`dma_buf_map_attachment`";
    "unmap-attachment" Step(unmap_attachment) args 1..=1 keys [] flags []
        usage "unmap-attachment MAPPING"
        doc "`dma_buf_unmap_attachment`";
    "detach" Step(detach) args 1..=1 keys [] flags []
        usage "detach ATTACHMENT"
        doc "`dma_buf_detach`";
    "fence" Step(fence) args 3..=3 keys ["usage"] flags []
        usage "fence FENCE DMABUF WHO [usage=write|read] (WHO: a device or cpu)"
        doc "a writer adds a write fence, a reader a read fence (`dma_resv_add_fence`)";
    "signal" Step(signal) args 1..=1 keys [] flags []
        usage "signal FENCE"
        doc "`dma_fence_signal`";
    "wait" Step(wait) args 2..=2 keys [] flags []
        usage "wait WAITER FENCE (WAITER: a device or cpu)"
        doc "`dma_fence_wait`";
    "begin-cpu-access" Step(begin_cpu_access) args 2..=2 keys [] flags []
        usage "begin-cpu-access DMABUF DIRECTION"
        doc "`dma_buf_begin_cpu_access`";
    "end-cpu-access" Step(end_cpu_access) args 2..=2 keys [] flags []
        usage "end-cpu-access DMABUF DIRECTION"
        doc "`dma_buf_end_cpu_access`";
    "note" Step(note) args 1..=1 keys [] flags []
        usage "note \"TEXT\""
        doc "a line in the timeline";
    "machine" Header(machine) args 1..=1
        keys ["line", "system-line", "cache", "speculation", "maintenance", "checker", "model-memory"] flags []
        usage "machine coherent|noncoherent [line=64|128] [system-line=BYTES] [cache=LINES] [speculation=always|off|SEED:PERCENT] [maintenance=arm64|map-only] [checker=on|off] [model-memory=SIZE]"
        doc "the machine (coherent, 64-byte lines, no larger system cache line, speculation always, arm64 maintenance, checker on by default); `model-memory` bounds the host memory the model may use (256M by default, 1M to 64G)";
    "iommu" Header(iommu) args 1..=1 keys ["flush-queue"] flags []
        usage "iommu off|strict|lazy [flush-queue=N]"
        doc "the IOMMU (default off)";
    "swiotlb" Header(swiotlb) args 1..=1 keys [] flags []
        usage "swiotlb off|SIZE"
        doc "the bounce pool (default 64M)";
    "device" Header(device) args 1..=1
        keys ["mask", "coherent-mask", "addr-bits", "group", "max-segment", "seg-boundary"] flags ["untrusted"]
        usage "device NAME [mask=BITS] [coherent-mask=BITS] [addr-bits=BITS] [group=N] [max-segment=BYTES] [seg-boundary=MASK] [untrusted]"
        doc "a device (64-bit masks, own group, 64 KiB segments, 4 GiB boundary by default; groups 0-999); `addr-bits` is what the hardware really drives when the driver's mask says more";
}

/// The command named `name`.
pub(crate) fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Commands whose names look like `word`, for an error's hint: those
/// sharing its start, containing it, or a few edits away, closest first.
pub(crate) fn suggest(word: &str) -> String {
    let mut close: Vec<(usize, &str)> = COMMANDS
        .iter()
        .map(|c| (strsim::levenshtein(word, c.name), c.name))
        .filter(|&(d, c)| {
            d <= 2.max(word.len() / 3)
                || c.starts_with(word.get(..3).unwrap_or(word))
                || word.starts_with(c)
                || c.contains(word)
        })
        .collect();
    // stable: equally close commands keep the table's order
    close.sort_by_key(|&(d, _)| d);
    let close: Vec<&str> = close.into_iter().take(4).map(|(_, c)| c).collect();
    if close.is_empty() {
        String::new()
    } else {
        format!(" (similar: {})", close.join(", "))
    }
}

/// The command list of the scenario format, as the Markdown tables of
/// `docs/dma-model.md`: the header commands, then the steps.
pub fn reference() -> String {
    let mut s = String::from("Header:\n\n| command | meaning |\n|---|---|\n");
    let row = |s: &mut String, c: &Command| {
        let _ = writeln!(s, "| `{}` | {} |", c.usage.replace('|', "\\|"), c.doc);
    };
    for c in COMMANDS
        .iter()
        .filter(|c| matches!(c.action, Action::Header(_)))
    {
        row(&mut s, c);
    }
    s.push_str("\nSteps:\n\n| command | kernel call or effect |\n|---|---|\n");
    for c in COMMANDS
        .iter()
        .filter(|c| matches!(c.action, Action::Step(_)))
    {
        row(&mut s, c);
    }
    s
}

// ---- header commands

fn machine(line: &Line, h: &mut Header) -> Parsed<()> {
    if h.saw_machine {
        return Err(line.err(&line.cmd, "a second 'machine' line"));
    }
    h.saw_machine = true;
    let m = &mut h.machine;
    let t = &line.pos[0];
    m.coherence = match t.text.as_str() {
        "coherent" => Coherence::Coherent,
        "noncoherent" | "non-coherent" => Coherence::NonCoherent,
        _ => {
            return Err(line.err(t, format!("'{}': expected coherent or noncoherent", t.text)));
        }
    };
    if let Some(t) = line.kv("line") {
        let v = line.num(t)?;
        if !matches!(v, 64 | 128) {
            return Err(line.err(t, "line size must be 64 or 128"));
        }
        m.line_size = v as u32;
    }
    if let Some(t) = line.kv("system-line") {
        let v = line.num_max(t, 1024, "system cache line")?;
        if !v.is_power_of_two() || v <= u64::from(m.line_size) {
            return Err(line.err(
                t,
                format!(
                    "the system cache line must be a power of two larger than the {}-byte L1 line",
                    m.line_size
                ),
            ));
        }
        m.system_line = v as u32;
    }
    if let Some(t) = line.kv("cache") {
        m.cache_lines = line.num_max(t, 1 << 24, "cache size")?.max(1) as usize;
    }
    if let Some(t) = line.kv("speculation") {
        m.speculation = speculation(line, t)?;
    }
    if let Some(t) = line.kv("model-memory") {
        let v = line.num_max(t, 64 << 30, "model memory")?;
        if v < 1 << 20 {
            return Err(line.err(t, "model memory must be at least 1M"));
        }
        m.model_memory = v;
    }
    if let Some(t) = line.kv("maintenance") {
        m.maintenance = match t.text.as_str() {
            "arm64" => Maintenance::Arm64,
            "map-only" => Maintenance::InvalidateAtMapOnly,
            _ => return Err(line.err(t, "maintenance is arm64 or map-only")),
        };
    }
    if let Some(t) = line.kv("checker") {
        m.checker = match t.text.as_str() {
            "on" => true,
            "off" => false,
            _ => return Err(line.err(t, "checker is on or off")),
        };
    }
    Ok(())
}

fn speculation(line: &Line, t: &Tok) -> Parsed<Speculation> {
    Ok(match t.text.as_str() {
        "always" => Speculation::Always,
        "off" => Speculation::Off,
        s => {
            let bad = || line.err(t, "speculation is always, off or SEED:PERCENT (like 7:50)");
            let (a, b) = s.split_once(':').ok_or_else(bad)?;
            let seed = parse_number(a).ok_or_else(bad)?;
            let percent = parse_number(b).filter(|p| *p <= 100).ok_or_else(bad)?;
            Speculation::Seeded {
                seed,
                percent: percent as u8,
            }
        }
    })
}

fn iommu(line: &Line, h: &mut Header) -> Parsed<()> {
    let t = &line.pos[0];
    h.machine.iommu = match t.text.as_str() {
        "off" => IommuMode::Off,
        "strict" => IommuMode::Strict,
        "lazy" => IommuMode::Lazy,
        _ => return Err(line.err(t, format!("'{}': expected off, strict or lazy", t.text))),
    };
    if let Some(t) = line.kv("flush-queue") {
        h.machine.flush_queue = line.num_max(t, 1 << 20, "flush queue")?.max(1) as usize;
    }
    Ok(())
}

fn swiotlb(line: &Line, h: &mut Header) -> Parsed<()> {
    let t = &line.pos[0];
    h.machine.swiotlb_bytes = if t.text == "off" {
        0
    } else {
        line.num_max(t, 0x0c00_0000, "swiotlb size")?
    };
    Ok(())
}

fn device(line: &Line, h: &mut Header) -> Parsed<()> {
    let name = line.name(line.args(&["untrusted"])[0])?;
    if name.text == "cpu" {
        return Err(line.err(&line.pos[0], "'cpu' is reserved for the CPU"));
    }
    if h.devices.iter().any(|d| d.config.name == name.text) {
        return Err(line.err(
            &line.pos[0],
            format!("device {} is declared twice", name.text),
        ));
    }
    let mut d = DeviceConfig::new(name.text);
    if let Some(t) = line.kv("mask") {
        d = d.mask(DmaMask::bits(line.num_max(t, 64, "mask width")? as u32));
    }
    if let Some(t) = line.kv("coherent-mask") {
        d.coherent_mask = DmaMask::bits(line.num_max(t, 64, "mask width")? as u32);
    }
    if let Some(t) = line.kv("group") {
        d.iommu_group = line.num_max(t, 999, "group")? as u32;
    }
    if let Some(t) = line.kv("addr-bits") {
        d.hw_mask = DmaMask::bits(line.num_max(t, 64, "address width")? as u32);
    }
    if let Some(t) = line.kv("max-segment") {
        d.max_segment = line.num(t)?.max(1);
    }
    if let Some(t) = line.kv("seg-boundary") {
        let v = line.num(t)?;
        if v.checked_add(1).is_some_and(|b| !b.is_power_of_two()) {
            return Err(line.err(
                t,
                "seg-boundary is a mask: a power of two minus one, like 0xffff",
            ));
        }
        d.seg_boundary = v;
    }
    d.untrusted = line.flag("untrusted");
    h.devices.push(DeviceLine {
        config: d,
        line: line.no,
    });
    Ok(())
}

// ---- steps: CPU memory

fn alloc(line: &Line) -> Parsed<Op> {
    let p = line.args(&[]);
    let size = line.num_max(p[1], 1 << 36, "size")?;
    if size == 0 {
        return Err(line.err(p[1], "size must not be 0"));
    }
    let align = match line.kv("align") {
        Some(t) => {
            let v = line.num_max(t, 1 << 30, "alignment")?;
            if !v.is_power_of_two() {
                return Err(line.err(t, "alignment must be a power of two"));
            }
            v
        }
        None => 0,
    };
    let zone = match line.kv("zone").map(|t| (t, t.text.as_str())) {
        None | Some((_, "normal")) => Zone::Normal,
        Some((_, "dma32")) => Zone::Dma32,
        Some((t, _)) => return Err(line.err(t, "zone is dma32 or normal")),
    };
    let kind = match line.kv("kind").map(|t| (t, t.text.as_str())) {
        None | Some((_, "kmalloc")) => MemKind::Kmalloc,
        Some((_, "stack")) => MemKind::Stack,
        Some((_, "vmalloc")) => MemKind::Vmalloc,
        Some((_, "rodata")) => MemKind::Rodata,
        Some((_, "mmio")) => MemKind::Mmio,
        Some((t, _)) => {
            return Err(line.err(t, "kind is kmalloc, stack, vmalloc, rodata or mmio"));
        }
    };
    Ok(Op::Alloc {
        name: line.name(p[0])?,
        size,
        align,
        zone,
        kind,
    })
}

fn free(line: &Line) -> Parsed<Op> {
    Ok(Op::Free {
        name: line.name(&line.pos[0])?,
    })
}

fn write(line: &Line) -> Parsed<Op> {
    Ok(Op::Write {
        at: line.reference(&line.pos[0])?,
        data: line.bytes(&line.pos[1])?,
    })
}

fn read(line: &Line) -> Parsed<Op> {
    Ok(Op::Read {
        at: line.reference(&line.pos[0])?,
        len: line.num_max(&line.pos[1], MAX_DATA, "length")?,
    })
}

fn expect(line: &Line) -> Parsed<Op> {
    Ok(Op::Expect {
        at: line.reference(&line.pos[0])?,
        data: line.bytes(&line.pos[1])?,
    })
}

// ---- steps: coherent memory and masks

fn alloc_coherent(line: &Line) -> Parsed<Op> {
    let size = line.num_max(&line.pos[2], 1 << 34, "size")?;
    if size == 0 {
        return Err(line.err(&line.pos[2], "size must not be 0"));
    }
    Ok(Op::AllocCoherent {
        name: line.name(&line.pos[0])?,
        dev: line.name(&line.pos[1])?,
        size,
    })
}

fn free_coherent(line: &Line) -> Parsed<Op> {
    Ok(Op::FreeCoherent {
        name: line.name(&line.pos[0])?,
        size: line.opt_num("size")?,
        cpu_offset: line.opt_num("cpu-offset")?.unwrap_or(0),
    })
}

fn set_mask(line: &Line) -> Parsed<Op> {
    Ok(Op::SetMask {
        dev: line.name(&line.pos[0])?,
        bits: line.num_max(&line.pos[1], 64, "mask width")? as u32,
    })
}

fn alloc_noncoherent(line: &Line) -> Parsed<Op> {
    let p = line.args(&["pages"]);
    let size = line.num_max(p[2], 1 << 34, "size")?;
    if size == 0 {
        return Err(line.err(p[2], "size must not be 0"));
    }
    Ok(Op::AllocNoncoherent {
        name: line.name(p[0])?,
        dev: line.name(p[1])?,
        size,
        dir: line.dir(p[3])?,
        func: if line.flag("pages") {
            MapFunc::Pages
        } else {
            MapFunc::Noncoherent
        },
    })
}

fn free_noncoherent(line: &Line) -> Parsed<Op> {
    Ok(Op::FreeNoncoherent {
        name: line.name(&line.pos[0])?,
        size: line.opt_num("size")?,
        cpu_offset: line.opt_num("cpu-offset")?.unwrap_or(0),
    })
}

fn dma_pool(line: &Line) -> Parsed<Op> {
    let size = line.num_max(&line.pos[2], 4096, "block size")?;
    if size == 0 {
        return Err(line.err(&line.pos[2], "size must not be 0"));
    }
    let align = match line.kv("align") {
        Some(t) => {
            let v = line.num_max(t, 4096, "alignment")?;
            if !v.is_power_of_two() {
                return Err(line.err(t, "alignment must be a power of two"));
            }
            v
        }
        None => 0,
    };
    Ok(Op::DmaPool {
        pool: line.name(&line.pos[0])?,
        dev: line.name(&line.pos[1])?,
        size,
        align,
    })
}

fn pool_alloc(line: &Line) -> Parsed<Op> {
    Ok(Op::PoolAlloc {
        name: line.name(&line.pos[0])?,
        pool: line.name(&line.pos[1])?,
    })
}

fn pool_free(line: &Line) -> Parsed<Op> {
    Ok(Op::PoolFree {
        name: line.name(&line.pos[0])?,
        pool: line.kv("pool").map(|t| line.name(t)).transpose()?,
    })
}

fn pool_destroy(line: &Line) -> Parsed<Op> {
    Ok(Op::PoolDestroy {
        pool: line.name(&line.pos[0])?,
    })
}

fn map_resource(line: &Line) -> Parsed<Op> {
    Ok(Op::MapResource {
        map: line.name(&line.pos[0])?,
        dev: line.name(&line.pos[1])?,
        buf: line.reference(&line.pos[2])?,
        dir: line.dir(&line.pos[3])?,
        size: line.opt_num("size")?,
    })
}

// ---- steps: streaming mappings

fn map(line: &Line) -> Parsed<Op> {
    let p = line.args(&["page"]);
    Ok(Op::Map {
        map: line.name(p[0])?,
        dev: line.name(p[1])?,
        buf: line.reference(p[2])?,
        dir: line.dir(p[3])?,
        size: line.opt_num("size")?,
        func: if line.flag("page") {
            MapFunc::Page
        } else {
            MapFunc::Single
        },
        attrs: line.attrs()?,
    })
}

fn mapping_error(line: &Line) -> Parsed<Op> {
    Ok(Op::MappingError {
        map: line.name(&line.pos[0])?,
    })
}

fn unmap(line: &Line) -> Parsed<Op> {
    let func = match line.kv("as") {
        Some(t) => Some(match t.text.as_str() {
            "single" => MapFunc::Single,
            "page" => MapFunc::Page,
            "sg" => MapFunc::Sg,
            "coherent" => MapFunc::Coherent,
            "noncoherent" => MapFunc::Noncoherent,
            "pages" => MapFunc::Pages,
            "resource" => MapFunc::Resource,
            _ => {
                return Err(line.err(
                    t,
                    "as= is single, page, sg, coherent, noncoherent, pages or resource",
                ));
            }
        }),
        None => None,
    };
    Ok(Op::Unmap {
        map: line.name(&line.pos[0])?,
        size: line.opt_num("size")?,
        dir: line.opt_dir("dir")?,
        func,
        attrs: line.attrs()?,
    })
}

fn unmap_addr(line: &Line) -> Parsed<Op> {
    Ok(Op::UnmapAddr {
        dev: line.name(&line.pos[0])?,
        at: line.reference(&line.pos[1])?,
        size: line.num(&line.pos[2])?,
        dir: line.dir(&line.pos[3])?,
    })
}

fn map_sg(line: &Line) -> Parsed<Op> {
    let mut entries = Vec::new();
    for t in &line.pos[3..] {
        let (r, len) = match t.text.split_once(':') {
            Some((r, n)) => {
                let len = parse_number(n)
                    .filter(|v| *v > 0)
                    .ok_or_else(|| line.err(t, format!("'{n}' is not a length")))?;
                let tok = Tok {
                    text: r.to_string(),
                    col: t.col,
                    quoted: false,
                };
                (tok, Some(len))
            }
            None => (t.clone(), None),
        };
        entries.push(SgEntry {
            at: line.reference(&r)?,
            len,
        });
    }
    let set = match line.kv("entries").map(|t| (t, t.text.as_str())) {
        None | Some((_, "buf")) => SgSet::Buf,
        Some((_, "page")) => SgSet::Page,
        Some((t, _)) => return Err(line.err(t, "entries= is buf or page")),
    };
    Ok(Op::MapSg {
        map: line.name(&line.pos[0])?,
        dev: line.name(&line.pos[1])?,
        dir: line.dir(&line.pos[2])?,
        entries,
        set,
        attrs: line.attrs()?,
    })
}

fn unmap_sg(line: &Line) -> Parsed<Op> {
    Ok(Op::UnmapSg {
        map: line.name(&line.pos[0])?,
        nents: line.opt_num("nents")?.map(|n| n as usize),
        dir: line.opt_dir("dir")?,
        attrs: line.attrs()?,
    })
}

fn sync(line: &Line, to: SyncFor) -> Parsed<Op> {
    Ok(Op::Sync {
        at: line.reference(&line.pos[0])?,
        size: line.opt_num("size")?,
        dir: line.opt_dir("dir")?,
        to,
    })
}

fn sync_for_cpu(line: &Line) -> Parsed<Op> {
    sync(line, SyncFor::Cpu)
}

fn sync_for_device(line: &Line) -> Parsed<Op> {
    sync(line, SyncFor::Device)
}

fn sync_sg(line: &Line, to: SyncFor) -> Parsed<Op> {
    Ok(Op::SyncSg {
        map: line.name(&line.pos[0])?,
        nents: line.opt_num("nents")?.map(|n| n as usize),
        dir: line.opt_dir("dir")?,
        to,
    })
}

fn sync_sg_for_cpu(line: &Line) -> Parsed<Op> {
    sync_sg(line, SyncFor::Cpu)
}

fn sync_sg_for_device(line: &Line) -> Parsed<Op> {
    sync_sg(line, SyncFor::Device)
}

// ---- steps: devices and the DMA engine

fn device_read(line: &Line) -> Parsed<Op> {
    Ok(Op::DeviceRead {
        dev: line.name(&line.pos[0])?,
        at: line.reference(&line.pos[1])?,
        len: line.num_max(&line.pos[2], MAX_DATA, "length")?,
    })
}

fn device_data(line: &Line) -> Parsed<(super::ast::Name, super::ast::Ref, Data)> {
    Ok((
        line.name(&line.pos[0])?,
        line.reference(&line.pos[1])?,
        line.bytes(&line.pos[2])?,
    ))
}

fn device_write(line: &Line) -> Parsed<Op> {
    let (dev, at, data) = device_data(line)?;
    Ok(Op::DeviceWrite { dev, at, data })
}

fn device_expect(line: &Line) -> Parsed<Op> {
    let (dev, at, data) = device_data(line)?;
    Ok(Op::DeviceExpect { dev, at, data })
}

fn engine(line: &Line) -> Parsed<Op> {
    let entries = line
        .kv("entries")
        .map(|t| line.num_max(t, 4096, "ring entries"))
        .transpose()?
        .unwrap_or(16)
        .max(1) as u32;
    Ok(Op::Engine {
        dev: line.name(&line.pos[0])?,
        ring: line.name(&line.pos[1])?,
        entries,
    })
}

fn desc(line: &Line) -> Parsed<Op> {
    let p = line.args(&["irq"]);
    Ok(Op::Desc {
        ring: line.name(p[0])?,
        index: line.num_max(p[1], 4095, "index")? as u32,
        src: line.reference(p[2])?,
        dst: line.reference(p[3])?,
        len: line.num_max(p[4], MAX_DATA, "length")? as u32,
        irq: line.flag("irq"),
    })
}

fn doorbell(line: &Line) -> Parsed<Op> {
    Ok(Op::Doorbell {
        dev: line.name(&line.pos[0])?,
        tail: line.num_max(&line.pos[1], u64::from(u32::MAX), "tail")? as u32,
    })
}

fn expect_status(line: &Line) -> Parsed<Op> {
    let t = &line.pos[2];
    let status = match t.text.as_str() {
        "pending" => Status::Pending,
        "done" => Status::Done,
        "error" => Status::Error,
        _ => return Err(line.err(t, "status is pending, done or error")),
    };
    Ok(Op::ExpectStatus {
        ring: line.name(&line.pos[0])?,
        index: line.num_max(&line.pos[1], 4095, "index")? as u32,
        status,
    })
}

fn expect_irqs(line: &Line) -> Parsed<Op> {
    Ok(Op::ExpectIrqs {
        dev: line.name(&line.pos[0])?,
        count: line.num(&line.pos[1])?,
    })
}

fn iommu_flush(_line: &Line) -> Parsed<Op> {
    Ok(Op::IommuFlush)
}

fn remove_device(line: &Line) -> Parsed<Op> {
    Ok(Op::RemoveDevice {
        dev: line.name(&line.pos[0])?,
    })
}

// ---- steps: DMA-BUF

fn dmabuf(line: &Line) -> Parsed<Op> {
    let size = line.num_max(&line.pos[2], 1 << 30, "size")?;
    if size == 0 {
        return Err(line.err(&line.pos[2], "size must not be 0"));
    }
    Ok(Op::DmaBuf {
        name: line.name(&line.pos[0])?,
        exporter: line.name(&line.pos[1])?,
        size,
    })
}

fn attach(line: &Line) -> Parsed<Op> {
    Ok(Op::Attach {
        att: line.name(&line.pos[0])?,
        buf: line.name(&line.pos[1])?,
        dev: line.name(&line.pos[2])?,
    })
}

fn map_attachment(line: &Line) -> Parsed<Op> {
    Ok(Op::MapAttachment {
        map: line.name(&line.pos[0])?,
        att: line.name(&line.pos[1])?,
        dir: line.dir(&line.pos[2])?,
    })
}

fn unmap_attachment(line: &Line) -> Parsed<Op> {
    Ok(Op::UnmapAttachment {
        map: line.name(&line.pos[0])?,
    })
}

fn detach(line: &Line) -> Parsed<Op> {
    Ok(Op::Detach {
        att: line.name(&line.pos[0])?,
    })
}

fn fence(line: &Line) -> Parsed<Op> {
    let usage = match line.kv("usage").map(|t| (t, t.text.as_str())) {
        None | Some((_, "write")) => FenceUsage::Write,
        Some((_, "read")) => FenceUsage::Read,
        Some((t, _)) => return Err(line.err(t, "usage is write or read")),
    };
    Ok(Op::Fence {
        fence: line.name(&line.pos[0])?,
        buf: line.name(&line.pos[1])?,
        who: line.who(&line.pos[2])?,
        usage,
    })
}

fn signal(line: &Line) -> Parsed<Op> {
    Ok(Op::Signal {
        fence: line.name(&line.pos[0])?,
    })
}

fn wait(line: &Line) -> Parsed<Op> {
    Ok(Op::Wait {
        who: line.who(&line.pos[0])?,
        fence: line.name(&line.pos[1])?,
    })
}

fn begin_cpu_access(line: &Line) -> Parsed<Op> {
    Ok(Op::BeginCpuAccess {
        buf: line.name(&line.pos[0])?,
        dir: line.dir(&line.pos[1])?,
    })
}

fn end_cpu_access(line: &Line) -> Parsed<Op> {
    Ok(Op::EndCpuAccess {
        buf: line.name(&line.pos[0])?,
        dir: line.dir(&line.pos[1])?,
    })
}

fn note(line: &Line) -> Parsed<Op> {
    Ok(Op::Note {
        text: line.pos[0].text.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_usage_starts_with_the_name() {
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS {
            assert!(seen.insert(c.name), "{} twice", c.name);
            assert!(
                c.usage == c.name || c.usage.starts_with(&format!("{} ", c.name)),
                "{}",
                c.usage
            );
            assert!(c.args.0 <= c.args.1);
            for k in c.keys {
                assert!(c.usage.contains(&format!("[{k}=")), "{}: {k}", c.name);
            }
            for f in c.flags {
                assert!(c.usage.contains(&format!("[{f}]")), "{}: {f}", c.name);
            }
        }
        assert!(find("map-sg").is_some() && find("mapsg").is_none());
    }

    #[test]
    fn suggestions_come_from_the_table() {
        assert_eq!(
            suggest("sync"),
            " (similar: sync-for-cpu, sync-for-device, sync-sg-for-cpu, sync-sg-for-device)"
        );
        assert_eq!(suggest("zzz"), "");
    }

    #[test]
    fn reference_lists_every_command_once() {
        let r = reference();
        for c in COMMANDS {
            assert_eq!(
                r.matches(&format!("| `{} ", c.name)).count()
                    + r.matches(&format!("| `{}` ", c.name)).count(),
                1,
                "{}",
                c.name
            );
        }
        assert!(r.contains("`machine coherent\\|noncoherent"));
    }
}
