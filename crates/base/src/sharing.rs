//! Names a camera owner's data-sharing agreement uses, in one place: the
//! config checks `[owner.agreement]` against them at load and the store
//! checks agreement changes made at run time against the same lists.

/// Analytics an agreement can allow (`[owner.agreement] analytics`).
pub const ANALYTICS: [&str; 9] = [
    "zones",
    "loitering",
    "crowd",
    "lines",
    "abandoned",
    "faces",
    "plates",
    "offences",
    "fire",
];

/// Role names a `viewer_roles` list may use (the auth crate's roles; its
/// tests check the two agree).
pub const ROLE_NAMES: [&str; 6] = [
    "viewer",
    "operator",
    "investigator",
    "supervisor",
    "auditor",
    "admin",
];
