//! Fuzz every typed spool entry (`LFR1` framed batch, `LFB1` HTTP Ingest batch, `LFE1`
//! SDL batch): the first byte picks the kind, and with its high bit puts the kind tag in
//! front of the rest; decoding never panics, an error points inside the input, and what
//! decodes encodes back to the same bytes (`logferry_spool::fuzzing::entry`).
#![no_main]
use logferry_spool::fuzzing::entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let tag = pick & 0x80 != 0;
    match (pick & 0x7f) % 3 {
        0 => {
            if let Some(batch) = entry::<logferry_framing::Batch>(tag, data) {
                for i in 0..batch.len() {
                    let (record, _) = batch.record(i).expect("every span names a record");
                    assert!(!record.contains(&b'\n'), "a record is one line");
                }
            }
        }
        1 => {
            if let Some(batch) = entry::<logferry_taegis_ingest::EncodedBatch>(tag, data) {
                let _ = batch.label();
                let _ = batch.raw();
            }
        }
        _ => {
            if let Some(stored) = entry::<logferry_sdl::StoredBatch>(tag, data) {
                let converted = stored.records(Some("p"), &Default::default(), Some(1));
                let events = converted.records.len() + converted.invalid.len();
                assert_eq!(events, stored.batch.len());
            }
        }
    }
});
