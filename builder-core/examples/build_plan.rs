//! Builds an image from a plan made by hand (no Dockerfile) into a store, and prints its
//! id.
//!
//! ```sh
//! cargo run -p mkimage-core --example build_plan -- /tmp/store
//! ```
#![allow(clippy::print_stdout)]

use mkimage_core::NoEvents;
use mkimage_core::build::{BuildOptions, Builder};
use mkimage_core::context::Context;
use mkimage_core::plan::{Base, Command, Copy, KeyValue, Op, Plan, Span, Stage, Step, StepMeta};
use mkimage_core::store::Store;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mkimage-example-store".into());
    let store = Store::open(root)?;

    // The build context: one file.
    let context_dir = tempfile::tempdir()?;
    std::fs::write(
        context_dir.path().join("greeting.txt"),
        "hello from a plan\n",
    )?;
    let context = Context::open(context_dir.path(), None)?;

    let step = |op: Op, text: &str| Step {
        op,
        meta: StepMeta {
            span: Span::default(),
            text: text.to_owned(),
        },
    };
    let plan = Plan {
        stages: vec![Stage {
            name: None,
            base: Base::Scratch,
            platform: None,
            steps: vec![
                step(
                    Op::Env(vec![KeyValue::new("GREETING", "hello")]),
                    "ENV GREETING=hello",
                ),
                step(
                    Op::Copy(Copy::new(vec!["greeting.txt".into()], "/srv/")),
                    "COPY greeting.txt /srv/",
                ),
                step(
                    Op::Cmd(Command::Exec(vec!["/srv/greeting.txt".into()])),
                    "CMD [\"/srv/greeting.txt\"]",
                ),
            ],
            span: Span::default(),
            from_text: None,
        }],
        target: 0,
    };
    let options = BuildOptions {
        tags: vec!["example/greeting:latest".parse()?],
        ..BuildOptions::default()
    };
    let built = Builder::new(store).build(&plan, &context, &options, &NoEvents)?;
    println!("{}", built.image.digest());
    Ok(())
}
