//! Camera URLs in logs and API answers.

/// Hides the password in a camera URL (`rtsp://user:pass@host` becomes
/// `rtsp://user:***@host`): CCTV URLs routinely embed credentials and the API
/// must not hand them to every dashboard viewer.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let user = userinfo.split(':').next().unwrap_or("");
    let masked = if userinfo.contains(':') {
        format!("{user}:***")
    } else {
        user.to_string()
    };
    format!("{}{}{}", &url[..rest_start], masked, &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact_url("rtsp://admin:secret@10.0.0.5:554/stream1"),
            "rtsp://admin:***@10.0.0.5:554/stream1"
        );
        assert_eq!(
            redact_url("rtsp://admin@cam/x"),
            "rtsp://admin@cam/x",
            "no password, nothing to hide"
        );
        assert_eq!(
            redact_url("rtsp://cam/x?user=a@b"),
            "rtsp://cam/x?user=a@b",
            "@ outside the authority is not userinfo"
        );
        assert_eq!(redact_url("/data/video.mp4"), "/data/video.mp4");
        assert_eq!(
            redact_url("rtsp://u:p@ss@cam"),
            "rtsp://u:***@cam",
            "the last @ ends userinfo"
        );
    }
}
