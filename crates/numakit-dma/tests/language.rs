//! What a driver author writes must parse, and what the scenario language
//! refuses it refuses with the reason: names that are flag words, offsets
//! on failed handles, names of unmapped attachment mappings, line sizes.
//! Findings name the offending byte and cache line, not the mapping's start.

use numakit_dma::scenario::{Report, run_str};

fn run(text: &str) -> Report {
    run_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn rules(r: &Report) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.rule.id()).collect()
}

#[test]
fn buffers_may_be_named_like_flags() {
    let r = run("machine noncoherent\niommu strict\ndevice nic\n\
         alloc page 4096\nalloc untrusted 64\n\
         map irq nic page to-device page\nmapping-error irq\n\
         map entries nic untrusted to-device\nmapping-error entries\n\
         device-read nic irq 4096\nunmap irq\nunmap entries\n");
    assert_eq!(rules(&r), Vec::<&str>::new());
    // `page` as the buffer and as the flag: dma_map_page, unmapped as such
    let r = run("machine coherent\ndevice nic\nalloc page 4096\n\
         map m nic page to-device page\nmapping-error m\nunmap m as=single\n");
    assert_eq!(rules(&r), ["unmap-function-mismatch"]);
}

#[test]
fn an_offset_on_a_failed_handle_reaches_the_device() {
    // DMA_MAPPING_ERROR + 256 wraps around, as in C: the device is given
    // address 0xff, which nothing mapped (without an IOMMU it reaches page
    // 0 of RAM); it is reported and the scenario runs on.
    let r = run("machine noncoherent\nswiotlb off\ndevice old mask=32\n\
         alloc buf 4096\nmap v old buf to-device\nmapping-error v\n\
         device-read old v+256 64\nnote \"still running\"\nfree buf\n");
    assert_eq!(rules(&r), ["device-access-unmapped"]);
    assert_eq!(r.findings[0].dma_addr.unwrap().raw(), 0xff);
    assert!(r.events.iter().any(|e| e.text == "still running"));
}

#[test]
fn every_kind_of_mapping_name_resolves_after_unmap() {
    let base = "machine noncoherent\niommu strict\ndevice gpu\ndevice nic\n";
    let cases = [
        "alloc b 4096\nmap m nic b from-device\nmapping-error m\nunmap m\n",
        "alloc b 4096\nmap-sg m nic from-device b:4096\nmapping-error m\nunmap-sg m\n",
        "dmabuf d gpu 4096\nattach a d nic\nmap-attachment m a from-device\nunmap-attachment m\n",
    ];
    for c in cases {
        let r = run(&format!("{base}{c}device-write nic m \"late\"\n"));
        assert_eq!(rules(&r), ["use-after-unmap"], "{c}");
    }
}

#[test]
fn line_sizes_other_than_64_and_128_are_refused() {
    for bad in ["32", "256", "96"] {
        let e = run_str(&format!("machine noncoherent line={bad}\n")).unwrap_err();
        assert_eq!((e.line, e.column), (1, 26), "{e}");
        assert!(e.message.contains("64 or 128"), "{e}");
    }
    let e = run_str("machine noncoherent line=128 system-line=64\n").unwrap_err();
    assert!(e.message.contains("system"), "{e}");
    run("machine noncoherent line=128\n");
}

#[test]
fn findings_name_the_offending_byte_and_line() {
    // a CPU read 4 bytes past a 60-byte partial sync: the finding names the
    // first device-owned byte (DMA and physical) and its cache line
    let r = run("machine noncoherent line=64\niommu strict\ndevice nic\n\
         alloc rx 2048\nmap m nic rx from-device\nmapping-error m\n\
         device-write nic m fill:0x42*60\nsync-for-cpu m+0 size=60\nread rx 64\n");
    assert_eq!(rules(&r), ["cpu-access-device-owned"]);
    let f = &r.findings[0];
    let m = r.findings[0].mapped_at.is_some();
    assert!(m);
    let phys = f.phys_addr.unwrap().raw();
    assert_eq!(phys % 64, 60, "the first byte not synced");
    assert_eq!(f.cache_line.unwrap().raw(), phys - 60);
    assert_eq!(f.dma_addr.unwrap().raw() % 4096, 60);
    // two scatterlist entries sharing a line: the later entry's byte
    let r = run("machine noncoherent line=64\niommu strict\ndevice snd\n\
         alloc ring 192\nmap-sg m snd from-device ring+0:96 ring+96:96\nmapping-error m\n");
    assert_eq!(rules(&r), ["shared-cache-line"]);
    let f = &r.findings[0];
    assert_eq!(f.phys_addr.unwrap().raw() % 4096, 96);
    assert_eq!(f.cache_line.unwrap().raw() % 4096, 64);
    assert_eq!(f.dma_addr.unwrap().raw() % 4096, 96);
}

#[test]
fn fill_data_is_generated_when_used_and_bounded_per_scenario() {
    // 100 lines of 64 MiB each: refused while parsing, at the line that
    // takes the scenario past 256 MiB, before any of it exists
    let mut s = String::from("machine coherent\ndevice dev\nalloc buf 64M\n");
    for _ in 0..100 {
        s.push_str("write buf fill:0x41*64M\n");
    }
    let e = numakit_dma::scenario::parse(&s).unwrap_err();
    assert_eq!(e.line, 8, "{e}");
    assert!(e.message.contains("256 MiB"), "{e}");
    // a fill is kept as a byte and a count
    let ok = numakit_dma::scenario::parse("machine coherent\nalloc b 64M\nwrite b fill:0x41*64M\n")
        .unwrap();
    assert!(matches!(
        ok.steps[1].op,
        numakit_dma::scenario::Op::Write {
            data: numakit_dma::scenario::Data::Fill {
                byte: 0x41,
                len: 0x400_0000
            },
            ..
        }
    ));
}

#[test]
fn the_model_refuses_what_would_exceed_its_memory_before_allocating() {
    let mut s = String::from("machine coherent\ndevice dev\n");
    for i in 0..50 {
        s.push_str(&format!("dmabuf d{i} dev 1G\n"));
    }
    let e = run_str(&s).unwrap_err();
    assert!(e.message.contains("256 MiB of host memory"), "{e}");
    assert!(e.line > 3 && e.line < 52, "{e}");
    // a smaller budget stops sooner
    let less = s.replace("dev 1G", "dev 256M");
    let e1 = run_str(&less).unwrap_err();
    let e2 = run_str(&less.replace("machine coherent", "machine coherent model-memory=64M"))
        .unwrap_err();
    assert!(e2.line < e1.line, "{e2} / {e1}");
    assert!(e2.message.contains("64 MiB"), "{e2}");
    // IOMMU page tables count: mapping a 60 GiB buffer through the IOMMU
    let e =
        run_str("machine coherent\niommu strict\ndevice dev\nalloc b 60G\nmap m dev b to-device\n")
            .unwrap_err();
    assert!(e.message.contains("IOMMU page tables"), "{e}");
    // a cache larger than the budget is not a machine the model builds
    let e = run_str("machine coherent cache=16777216\n").unwrap_err();
    assert!(e.message.contains("cache"), "{e}");
}
