#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kuzet_server::fuzzing::plate_formats(data));
