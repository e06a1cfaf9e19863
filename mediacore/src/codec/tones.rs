//! Pure: the tones `Playtones` plays, as Asterisk's `indications` describe them.
//!
//! A tone list is comma-separated items `[!]f1[+f2][/ms]`: one or two frequencies in Hz
//! (`0` is silence) for `ms` milliseconds (none: for ever). The list repeats from its first
//! item without `!`; items with `!` play once (a list of only `!` items plays once, then
//! silence). Instead of a list, an indication's name (`ring`, `busy`, `congestion`,
//! `dial`, `callwaiting`, `dialrecall`, `record`, `info`, `stutter`) gives Italy's, from
//! Asterisk's `indications.conf` `[it]`: the node is Italian. Asterisk's modulated (`f1*f2`)
//! and MIDI-note (`M…`) forms are refused with a clear error rather than played wrong.

/// One component's amplitude (Asterisk's playtones volume).
const AMPLITUDE: f64 = 7219.0;
/// Samples per second (G.711).
const RATE: f64 = 8000.0;
/// At most this many items in a list: a tone list is short, a long one is a mistake.
pub const MAX_ITEMS: usize = 32;

/// Italy's indications (Asterisk's `indications.conf`, `[it]`).
const ITALY: [(&str, &str); 9] = [
    ("dial", "425/200,0/200,425/600,0/1000"),
    ("busy", "425/500,0/500"),
    ("ring", "425/1000,0/4000"),
    ("congestion", "425/200,0/200"),
    ("callwaiting", "425/400,0/100,425/250,0/100,425/150,0/14000"),
    ("dialrecall", "470/400,425/400"),
    ("record", "1400/400,0/15000"),
    ("info", "!950/330,!1400/330,!1800/330,0/1000"),
    ("stutter", "470/400,425/400"),
];

/// One item of a tone list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// Frequencies in Hz (0: none).
    pub freqs: [u16; 2],
    /// Length in samples; `None`: for ever.
    pub samples: Option<u32>,
    /// Played once, not repeated.
    pub once: bool,
}

/// A parsed tone list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tones {
    items: Vec<Item>,
}

impl Tones {
    /// Parses an indication name or a tone list.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        let list = ITALY
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(spec))
            .map_or(spec, |(_, list)| list);
        let items = list
            .split([',', '|'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(item)
            .collect::<Result<Vec<_>, _>>()?;
        if items.is_empty() {
            return Err(format!("Playtones: no tone in {spec:?}"));
        }
        if items.len() > MAX_ITEMS {
            return Err(format!(
                "Playtones: {} items (at most {MAX_ITEMS})",
                items.len()
            ));
        }
        Ok(Self { items })
    }

    /// The items.
    pub fn items(&self) -> &[Item] {
        &self.items
    }
}

fn item(text: &str) -> Result<Item, String> {
    let bad = |why: &str| format!("Playtones: {text:?}: {why}");
    let (once, rest) = match text.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if rest.starts_with(['M', 'm']) || rest.contains('*') {
        return Err(bad("MIDI notes and modulated tones are not supported"));
    }
    let (freqs, ms) = match rest.split_once('/') {
        Some((f, ms)) => (f, Some(ms)),
        None => (rest, None),
    };
    let freq = |f: &str| -> Result<u16, String> {
        f.trim()
            .parse::<u16>()
            .ok()
            .filter(|f| *f <= 4000)
            .ok_or_else(|| bad("a frequency is 0 to 4000 Hz"))
    };
    let freqs = match freqs.split_once('+') {
        Some((a, b)) => [freq(a)?, freq(b)?],
        None => [freq(freqs)?, 0],
    };
    let samples = match ms {
        None => None,
        Some(ms) => {
            let ms: u32 = ms
                .trim()
                .parse()
                .ok()
                .filter(|ms| (1..=3_600_000).contains(ms))
                .ok_or_else(|| bad("a duration is 1 to 3,600,000 ms"))?;
            Some(ms * 8)
        }
    };
    Ok(Item {
        freqs,
        samples,
        once,
    })
}

/// Plays a tone list, 20 ms at a time.
#[derive(Debug, Clone)]
pub struct Generator {
    tones: Tones,
    /// The item playing; `None` once a list that does not repeat is over.
    at: Option<usize>,
    /// Samples into it.
    sample: u32,
}

impl Generator {
    /// Starts `tones` from their first item.
    pub fn new(tones: Tones) -> Self {
        Self {
            tones,
            at: Some(0),
            sample: 0,
        }
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for s in out.iter_mut() {
            *s = self.next_sample();
        }
    }

    fn next_sample(&mut self) -> i16 {
        let items = self.tones.items();
        let Some(item) = self.at.and_then(|i| items.get(i)) else {
            return 0;
        };
        let t = f64::from(self.sample) / RATE;
        let v: f64 = item
            .freqs
            .iter()
            .filter(|f| **f > 0)
            .map(|f| (2.0 * std::f64::consts::PI * f64::from(*f) * t).sin() * AMPLITUDE)
            .sum();
        self.sample += 1;
        if item.samples.is_some_and(|n| self.sample >= n) {
            self.sample = 0;
            let next = self.at.map_or(0, |i| i + 1);
            self.at = if next < items.len() {
                Some(next)
            } else {
                // Back to the first item that repeats; none: the list is over.
                items.iter().position(|i| !i.once)
            };
        } else if item.samples.is_none() && self.sample >= RATE as u32 {
            self.sample = 0; // a steady tone: keep `t` small (whole seconds are in phase)
        }
        v as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn power(samples: &[i16], hz: f64) -> f64 {
        let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / RATE).cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for x in samples {
            let s0 = f64::from(*x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let energy: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
        (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (energy * samples.len() as f64 / 2.0).max(1.0)
    }

    fn generate(spec: &str, samples: usize) -> Vec<i16> {
        let mut g = Generator::new(Tones::parse(spec).unwrap());
        let mut out = vec![0i16; samples];
        g.fill(&mut out);
        out
    }

    #[test]
    fn italys_busy_is_425_hz_half_a_second_on_half_off() {
        let out = generate("busy", 16_000);
        assert!(power(&out[..4000], 425.0) > 0.9);
        assert!(out[4000..8000].iter().all(|s| *s == 0), "the off half");
        assert!(power(&out[8000..12_000], 425.0) > 0.9, "it repeats");
        assert_eq!(generate("BUSY", 100), generate("425/500,0/500", 100));
    }

    #[test]
    fn two_frequencies_sound_together() {
        let out = generate("440+480/2000,0/4000", 8000);
        assert!(power(&out, 440.0) > 0.4 && power(&out, 480.0) > 0.4);
        assert!(out.iter().map(|s| s.unsigned_abs()).max().unwrap() > 10_000);
    }

    #[test]
    fn items_marked_once_are_not_repeated() {
        // info: three one-off beeps, then silence repeating.
        let out = generate("info", 8 * (330 * 3 + 1000) * 2);
        let beeps = 8 * 330 * 3;
        assert!(power(&out[..8 * 330], 950.0) > 0.9);
        assert!(
            out[beeps..].iter().all(|s| *s == 0),
            "no beep after the first round"
        );
        let once = generate("!1000/100", 8 * 300);
        assert!(once[800..].iter().all(|s| *s == 0));
        assert!(power(&once[..800], 1000.0) > 0.9);
    }

    #[test]
    fn a_tone_without_duration_plays_for_ever() {
        let out = generate("425", 8 * 3_000);
        assert!(power(&out[20_000..], 425.0) > 0.9);
    }

    #[test]
    fn bad_lists_say_what_is_wrong() {
        for (spec, why) in [
            ("", "no tone"),
            ("abc", "frequency"),
            ("5000/100", "frequency"),
            ("440/0", "duration"),
            ("440/x", "duration"),
            ("440*20/100", "modulated"),
            ("M60/100", "MIDI"),
        ] {
            let e = Tones::parse(spec).unwrap_err();
            assert!(e.contains(why), "{spec}: {e}");
        }
        let long = vec!["440/10"; MAX_ITEMS + 1].join(",");
        assert!(Tones::parse(&long).unwrap_err().contains("at most"));
    }
}
