// Bounds on the YAML a revision may hold, checked before the yaml package sees the text: its
// composer recurses once per nesting level, so a few kilobytes of `[[[[` exhaust the stack, and
// parsing runs at ~2.6 MB/s on the event loop.
//
// Why these numbers: fleet documents nest about ten deep (a Profile's provisioning tasks are the
// deepest). A file is parsed in one synchronous call: 1 MiB outside the plain-YAML fast path takes
// ~0.4 s of the event loop, so /healthz and agents still get an answer within a second (~5,000
// Device documents fit in one file; split larger inventories). The generated 10,000-device fleet
// of the benchmarks is 2.3 MB in all.

/** Open nodes at once, the document included (`a: [[x]]` is 4). Deeper is `yaml.too-deep`. */
export const YAML_MAX_DEPTH = 64;

/** Bytes of one YAML file. Larger is `file.too-large`, and the file is not parsed. */
export const YAML_MAX_FILE_BYTES = 1024 * 1024;

/** Bytes of all YAML files of a revision. Larger is `revision.too-large`; the rest is not parsed. */
export const YAML_MAX_REVISION_BYTES = 32 * 1024 * 1024;
