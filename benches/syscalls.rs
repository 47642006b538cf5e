//! What the kernel costs per frame on each send/receive path of the socket driver
//! (src/runtime/batch.rs): a 160 KB frame (1080p at quality 80, 134 datagrams of 1200 bytes)
//! from a sender driver to a viewer driver over loopback, and its ACK back, one frame in
//! flight, with the default (paced) sender. Per path it prints the process's CPU time
//! (getrusage user + system, all four threads: both drivers and their readers) and wall time
//! per frame, and the datagram system calls per frame (the frame's direction: the sender's
//! sends and the viewer's receives; and all of them). CPU is also split by thread (from
//! /proc/self/task/*/schedstat): the sender's driver, the viewer's driver, and the two socket
//! readers together. The paths run in turns, several rounds,
//! and each figure is the median over the rounds, so a busy machine affects them alike.
//! Linux only. Run with `cargo bench --bench syscalls` (`-- FRAMES ROUNDS` to change the 300 x 5).

#[cfg(target_os = "linux")]
fn main() {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("syscalls: the batched paths are Linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use camwire::protocol::link::MAX_VIEWER_DATAGRAM;
    use camwire::protocol::receiver::{Receiver, ReceiverConfig};
    use camwire::protocol::sender::{OutgoingFrame, Sender, SenderConfig, SenderEvent};
    use camwire::protocol::wire::Codec;
    use camwire::runtime::driver::{Batching, Driver, SyscallCounts};
    use camwire::runtime::net::{bind_viewer, connect_sender};

    const FRAME: usize = 160_000;

    /// Process CPU time, user + system.
    fn cpu() -> Duration {
        // SAFETY: getrusage writes a rusage.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(u.ru_utime) + tv(u.ru_stime)
    }

    /// CPU time of this process's threads by name (`/proc/self/task/*/schedstat`, ns).
    fn threads() -> Vec<(String, u64)> {
        let mut v = Vec::new();
        for t in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = t.path();
            let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
            let ns = std::fs::read_to_string(p.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            v.push((comm.trim().to_string(), ns));
        }
        v
    }

    /// CPU time of the threads named `name` (summed).
    fn thread_ns(t: &[(String, u64)], name: &str) -> u64 {
        t.iter().filter(|(n, _)| n == name).map(|(_, ns)| ns).sum()
    }

    struct Sample {
        cpu_us: f64,
        sender_us: f64,
        viewer_us: f64,
        readers_us: f64,
        wall_us: f64,
        forward_calls: f64,
        all_calls: f64,
        datagrams: f64,
    }

    fn sub(a: SyscallCounts, b: SyscallCounts) -> SyscallCounts {
        SyscallCounts {
            send_calls: a.send_calls - b.send_calls,
            sent: a.sent - b.sent,
            recv_calls: a.recv_calls - b.recv_calls,
            received: a.received - b.received,
        }
    }

    /// `frames` frames over a fresh pair of drivers on `batching`, after a warm-up.
    fn run(batching: Batching, frames: usize) -> Sample {
        let (vs, _) = bind_viewer("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = vs.local_addr().unwrap();
        let mut rx = Driver::with_batching(
            Receiver::new(ReceiverConfig::default()),
            vs,
            MAX_VIEWER_DATAGRAM,
            batching,
        )
        .unwrap();
        let cfg = SenderConfig::default();
        let mut tx = Driver::with_batching(
            Sender::new(cfg, 7),
            connect_sender(addr).unwrap(),
            cfg.mtu,
            batching,
        )
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let viewer = std::thread::Builder::new()
            .name("viewer".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    rx.turn(Instant::now() + Duration::from_millis(5)).unwrap();
                    while let Some(ev) = rx.machine_mut().poll_event() {
                        drop(ev);
                    }
                }
                rx.syscalls()
            })
            .unwrap();
        let mut rng = fastrand::Rng::with_seed(1);
        let data: Vec<u8> = (0..FRAME).map(|_| rng.u8(..)).collect();
        let one = |tx: &mut Driver<Sender>| {
            let seq = tx
                .machine_mut()
                .push_frame(
                    Instant::now(),
                    OutgoingFrame {
                        data: data.clone(),
                        codec: Codec::Jpeg,
                        width: 1920,
                        height: 1080,
                        timestamp_us: 1,
                    },
                )
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                tx.turn(Instant::now() + Duration::from_millis(5)).unwrap();
                let mut acked = false;
                while let Some(ev) = tx.machine_mut().poll_event() {
                    acked |= matches!(ev, SenderEvent::Acked { seq: s, .. } if s == seq);
                }
                if acked {
                    break;
                }
                assert!(Instant::now() < deadline, "frame {seq} not acknowledged");
            }
        };
        for _ in 0..20 {
            one(&mut tx);
        }
        let main_name = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
        let main_name = main_name.trim();
        let (c0, w0, s0, t0) = (cpu(), Instant::now(), tx.syscalls(), threads());
        for _ in 0..frames {
            one(&mut tx);
        }
        let (cpu_used, wall, t1) = (cpu() - c0, w0.elapsed(), threads());
        let per =
            |name: &str| (thread_ns(&t1, name) - thread_ns(&t0, name)) as f64 / 1e3 / frames as f64;
        let (sender_us, viewer_us, readers_us) = (per(main_name), per("viewer"), per("udp-reader"));
        let txc = sub(tx.syscalls(), s0);
        stop.store(true, Ordering::Relaxed);
        // The viewer's counts cover the warm-up too: scale them by the sender's share.
        let rxc = viewer.join().unwrap();
        drop(tx);
        let all_frames = (frames + 20) as f64;
        let f = frames as f64;
        let rx_recv = rxc.recv_calls as f64 / all_frames;
        let rx_send = rxc.send_calls as f64 / all_frames;
        Sample {
            cpu_us: cpu_used.as_secs_f64() * 1e6 / f,
            sender_us,
            viewer_us,
            readers_us,
            wall_us: wall.as_secs_f64() * 1e6 / f,
            forward_calls: txc.send_calls as f64 / f + rx_recv,
            all_calls: (txc.send_calls + txc.recv_calls) as f64 / f + rx_recv + rx_send,
            datagrams: txc.sent as f64 / f,
        }
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    pub fn main() {
        // `cargo bench` passes `--bench`; numbers after it are FRAMES and ROUNDS.
        let nums: Vec<usize> = std::env::args().filter_map(|a| a.parse().ok()).collect();
        let frames = nums.first().copied().unwrap_or(300);
        let rounds = nums.get(1).copied().unwrap_or(5);
        let paths = [
            ("plain (send/recv per datagram)", Batching::Off),
            ("sendmmsg + recvmmsg", Batching::Mmsg),
            ("GSO + recvmmsg", Batching::Gso),
        ];
        let mut samples: Vec<Vec<Sample>> = paths.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (i, (_, b)) in paths.iter().enumerate() {
                samples[i].push(run(*b, frames));
            }
        }
        println!(
            "syscalls: {} KB frame, {frames} frames x {rounds} rounds per path, medians",
            FRAME / 1000
        );
        println!(
            "{:<32} {:>12} {:>8} {:>8} {:>8} {:>8} {:>12} {:>10} {:>10} {:>10}",
            "path",
            "CPU us/frame",
            "vs plain",
            "sender",
            "viewer",
            "readers",
            "wall us/frm",
            "datagrams",
            "calls fwd",
            "calls all"
        );
        let m = |i: usize, f: fn(&Sample) -> f64| median(samples[i].iter().map(f).collect());
        let base = m(0, |s| s.cpu_us);
        for (i, (name, _)) in paths.iter().enumerate() {
            println!(
                "{:<32} {:>12.1} {:>8.2} {:>8.1} {:>8.1} {:>8.1} {:>12.1} {:>10.1} {:>10.1} {:>10.1}",
                name,
                m(i, |s| s.cpu_us),
                m(i, |s| s.cpu_us) / base,
                m(i, |s| s.sender_us),
                m(i, |s| s.viewer_us),
                m(i, |s| s.readers_us),
                m(i, |s| s.wall_us),
                m(i, |s| s.datagrams),
                m(i, |s| s.forward_calls),
                m(i, |s| s.all_calls),
            );
        }
    }
}
