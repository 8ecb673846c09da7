//! Inputs the fuzzer found; each once broke a property of the request or response parsers.

#[test]
fn duplicate_member_names_read_the_same_in_both_parsers() {
    let body = br#"{"session":"s","events":[{"ntsog":"1","ts":"1","attrs":{"merverHost":"front-1"},"evenntsog":"1","ts":"2","attrs":{"message":"a","nested":{"f;oona":"1"}}}],"logs":[{"id":"1&","attrs":{"_k8s_ck":"Deploym2ent"}}]}"#;
    logferry_sdl_model::fuzzing::request(body);
    let parsed = logferry_sdl_model::parse_request(&mut body.to_vec()).unwrap();
    assert_eq!(parsed.events[0].ts.as_nanos(), 2, "the last duplicate wins");
}
