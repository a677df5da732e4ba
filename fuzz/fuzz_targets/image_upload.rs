#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kuzet_server::fuzzing::image_upload(data));
