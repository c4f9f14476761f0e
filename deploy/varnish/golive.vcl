# golive's LL-HLS behind Debian's Varnish (bookworm: 7.1) as a caching edge.
#
# Install: copy to /etc/varnish/golive.vcl, set the backend's host and port below, and start
# varnishd with it (`varnishd -a :80 -f /etc/varnish/golive.vcl -s malloc,256m
# -p timeout_linger=1`, or DAEMON_OPTS / the systemd unit's ExecStart). docs/caching.md says
# what golive tells caches about each answer, why this file is set so, and why timeout_linger.
#
# Identical misses are coalesced by Varnish's waiting list: the first goes to golive, the
# others wait on the busy object and are woken by events when its headers arrive (no
# polling), so a blocking reload or the preload-hinted part that every viewer asks for at once
# costs golive one request. Every waiter is then a request of its own for Varnish's threads:
# two per viewer at each part, all at once, which is what Varnish's CPU goes on.
vcl 4.1;

import std;

backend golive {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 1s;
    # Longer than golive holds a blocking reload or a hinted part (12 s at most).
    .first_byte_timeout = 20s;
    .between_bytes_timeout = 10s;
}

sub vcl_recv {
    if (req.url !~ "^/hls/") {
        # The pages and the API are not cached here: golive marks them no-store or no-cache,
        # and the login throttles need each client's address (set trusted_proxies in golive
        # to this edge's address so that X-Forwarded-For is believed).
        return (pass);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # Only the delivery directives (_HLS_msn, _HLS_part, _HLS_skip) matter to golive: other
    # parameters are dropped and the rest sorted, so any order or a cache-busting parameter
    # reaches the same object.
    if (req.url ~ "\?") {
        set req.url = regsuball(req.url, "&(?!_HLS_)[^&]*", "");
        set req.url = regsub(req.url, "\?(?!_HLS_)[^&]*&?", "?");
        set req.url = regsub(req.url, "\?$", "");
        set req.url = std.querysort(req.url);
    }
    # HLS needs no cookie and no credentials; with them the built-in VCL would pass.
    unset req.http.Cookie;
    unset req.http.Authorization;
    # A playlist without _HLS_msn (the multivariant playlist, a media playlist's live edge)
    # and status.json change every part and golive marks them no-cache: straight to golive,
    # never queued on the waiting list.
    if (req.url ~ "\.(m3u8|json)(\?|$)" && req.url !~ "[?&]_HLS_msn=") {
        return (pass);
    }
    return (hash);
}

sub vcl_backend_response {
    if (bereq.url !~ "^/hls/") {
        return (deliver);
    }
    # golive states every lifetime: a blocking reload three target durations, media an hour,
    # a 404 or a 503 a second. Nothing is served past it: a stale 404 would hide a room that
    # just went live, and an expired blocking reload is never asked for again anyway.
    set beresp.grace = 0s;
    set beresp.keep = 0s;
    if (beresp.status == 503 && beresp.http.Cache-Control ~ "max-age=[0-9]") {
        # Varnish keeps no 503 by itself, whatever its Cache-Control says; golive's (a part
        # that did not come in time) is kept its second, for the players that waited together.
        set beresp.ttl = std.duration(
            regsub(beresp.http.Cache-Control, "^.*max-age=([0-9]+).*$", "\1s"), 0s);
    }
    if (beresp.ttl <= 0s || beresp.http.Cache-Control ~ "(?i)no-cache|no-store|private") {
        # Not to be kept: remembered as hit-for-miss for a second only (the built-in VCL says
        # two minutes), so that requests of this URL are coalesced again soon, and the ones
        # waiting now go to golive side by side rather than one after another.
        set beresp.ttl = 1s;
        set beresp.uncacheable = true;
    }
    # Sent to the waiting clients as it arrives (the default, said here because it matters).
    set beresp.do_stream = true;
    return (deliver);
}

sub vcl_deliver {
    # Varnish adds Age itself; players use it for the first playlist (RFC 8216bis, Appendix C).
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
