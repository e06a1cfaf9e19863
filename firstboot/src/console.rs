//! Driver: the appliance's screen (the vSphere web console), where an administrator without
//! a shell looks: first boot's result and errors, and the node's problems
//! (`allertactl problems --follow`).
//!
//! Why not `StandardOutput=journal+console`: journald writes a unit's "console" copy to its
//! `TTYPath=`, which the image points at the serial port (the whole journal goes there, for
//! the boot smoke and a serial-console administrator), so those lines never reached the
//! screen. So each line goes to standard output (the journal, and from there the serial
//! port) and is written to the console device as well, which is opened for each line and
//! closed again, as journald does, so a hang-up of the terminal never sticks to us.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// O_NOCTTY (Linux, every architecture we build for): a service is a session leader, and
/// opening a terminal without it would make the console our controlling terminal.
const O_NOCTTY: i32 = 0o400;

/// Standard output, and the console device when there is one.
#[derive(Debug, Clone, Default)]
pub struct Console {
    device: Option<PathBuf>,
}

impl Console {
    /// Lines go to standard output and, if given, to `device` (`/dev/console`).
    pub fn new(device: Option<PathBuf>) -> Self {
        Self { device }
    }

    /// `text` as one line on the console, and on standard output with `prefix` before it
    /// (a journal priority such as `<4>`, or nothing).
    pub fn say_with(&self, prefix: &str, text: &str) {
        println!("{prefix}{text}");
        let _ = std::io::stdout().flush();
        if let Some(device) = &self.device {
            // Not being able to reach the screen must not stop the job; the journal has it.
            // Appending: harmless on a terminal, and a file stands in for one in tests.
            let console = OpenOptions::new()
                .append(true)
                .custom_flags(O_NOCTTY)
                .open(device);
            if let Ok(mut console) = console {
                let _ = writeln!(console, "{text}");
            }
        }
    }

    /// `text` as one line on standard output and the console.
    pub fn say(&self, text: &str) {
        self.say_with("", text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_reaches_the_device_too() {
        let dir = std::env::temp_dir().join(format!("allerta-console-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let device = dir.join("console");
        std::fs::write(&device, "").unwrap();
        let console = Console::new(Some(device.clone()));
        console.say("ERROR: ha.vip: 10.99.0.10 is not in the data network");
        console.say_with("<4>", "PROBLEM: trunk trunk-out: registration failed");
        let written = std::fs::read_to_string(&device).unwrap();
        assert_eq!(
            written,
            "ERROR: ha.vip: 10.99.0.10 is not in the data network\n\
             PROBLEM: trunk trunk-out: registration failed\n"
        );
        Console::new(Some(dir.join("missing/console"))).say("no device: no panic");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
