//! One test's deployment on the local AWS: its stack, service and image
//! repository share a unique name, beside an artifacts bucket for SAM; all
//! of it removed when the stage is dropped, also when an assertion fails.

use std::path::Path;
use std::process::Command;

use crate::{Isokit, LocalAws, Run, building, busybox_context, unique_name};

#[derive(Debug)]
pub struct Stage {
    pub local: LocalAws,
    /// The binary, run in a working folder of the stage's own.
    pub isokit: Isokit,
    pub name: String,
    pub bucket: String,
    _workdir: tempfile::TempDir,
}

impl Stage {
    /// `isokit` is `Isokit::new(env!("CARGO_BIN_EXE_isokit"))` of the test.
    pub fn new(prefix: &str, isokit: Isokit) -> Stage {
        let local = LocalAws::require();
        let workdir = tempfile::tempdir().expect("working directory");
        let name = unique_name(prefix);
        let bucket = format!("{name}-artifacts");
        // SAM needs a bucket that exists against moto.
        local.aws(&["s3api", "create-bucket", "--bucket", &bucket]);
        Stage {
            isokit: isokit.current_dir(workdir.path()),
            local,
            name,
            bucket,
            _workdir: workdir,
        }
    }

    /// `isokit push` of a build context to the stage's repository; the
    /// pinned URI, once ECR lists it.
    pub fn push(&self, context: &Path) -> String {
        let run = {
            let _build = building();
            self.isokit.run([
                "push",
                "--context",
                context.to_str().expect("a text path"),
                "--repo",
                &self.name,
            ])
        };
        run.assert_success();
        let pinned = run.stdout.lines().next().expect("a pinned URI").to_owned();
        self.local.await_pinned(&pinned);
        pinned
    }

    /// Pushes a busybox image whose process does what `dockerfile` says.
    pub fn push_busybox(&self, dockerfile: &Path) -> String {
        let context = busybox_context(dockerfile);
        self.push(context.path())
    }

    /// `isokit deploy` of `image` as the stage's stack and service.
    pub fn deploy(&self, image: &str, extra: &[&str]) -> Run {
        self.isokit.run(self.deploy_args(image, extra))
    }

    /// The words of [`Stage::deploy`].
    pub fn deploy_args<'a>(&'a self, image: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "deploy",
            "--image",
            image,
            "--stack-name",
            &self.name,
            "--service-name",
            &self.name,
            "--s3-bucket",
            &self.bucket,
        ];
        args.extend_from_slice(extra);
        args
    }
}

impl Drop for Stage {
    /// Best effort and silent, so that it never hides the test's own failure.
    fn drop(&mut self) {
        let _ = self.isokit.run([
            "teardown",
            "--stack-name",
            &self.name,
            "--delete-repo",
            &self.name,
            "--yes",
        ]);
        let _ = Command::new("aws")
            .args(["s3", "rb", &format!("s3://{}", self.bucket), "--force"])
            .output();
    }
}
