//! The README's Rust examples are compiled by `cargo test --doc` (src/lib.rs includes the
//! README under `cfg(doctest)`); this checks what a compiler does not: that they read right on
//! GitHub, where rustdoc's hidden lines show, and that they say what they need.

fn rust_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match &mut current {
            None if line.starts_with("```rust") => current = Some(String::new()),
            Some(_) if line.starts_with("```") => blocks.push(current.take().unwrap()),
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn readme_examples_have_no_hidden_lines_and_name_their_dependencies() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks = rust_blocks(&readme);
    assert!(blocks.len() >= 2, "the library examples are gone");
    for b in &blocks {
        for line in b.lines() {
            assert!(
                !(line.starts_with("# ") || line == "#"),
                "a rustdoc hidden line shows on GitHub: {line:?}"
            );
        }
    }
    if blocks.iter().any(|b| b.contains("serde_json::")) {
        let deps = readme
            .split("```toml")
            .skip(1)
            .find(|t| t.contains("camwire ="))
            .expect("a [dependencies] example");
        assert!(
            deps.split("```").next().unwrap().contains("serde_json"),
            "an example uses serde_json but the [dependencies] example does not list it"
        );
    }
    // The endpoint example starts the hub before anything is sent to it.
    let ep = blocks
        .iter()
        .find(|b| b.contains("FrameSender::connect"))
        .unwrap();
    let bind = ep.find("FrameReceiver::bind").expect("the hub");
    let connect = ep.find("FrameSender::connect").unwrap();
    assert!(bind < connect, "the hub binds first");
}
