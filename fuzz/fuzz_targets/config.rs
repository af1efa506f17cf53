//! Fuzz the JSON configs: pipeline configs (`train`), grid files (`select`) and CNN
//! configs (`cnn train --config`). Byte 0 picks the parser. A config that parses must
//! validate or fail cleanly; a grid's candidates are expanded only when few.
#![no_main]

use classic_cv::classify::config::{GridConfig, PipelineConfig};
use classic_cv::cnn::CnnParams;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [sel, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match sel % 3 {
        0 => drop(PipelineConfig::from_json(text, "fuzz.json")),
        1 => {
            if let Ok(g) = GridConfig::from_json(text, "fuzz.json") {
                let _ = g.candidates("fuzz.json");
            }
        }
        _ => drop(CnnParams::from_json(text, "fuzz.json")),
    }
});
