//! Payloads of Zeek test traces (/work/shared/corpus/zeek, BSD licence; see its MANIFEST.tsv),
//! extracted with `tshark -q -z follow,tcp,raw,N`: one entry per TCP segment, in capture order.

use crate::reassembly::Direction;

pub(super) const CHUNK_2POW64_OVERFLOW: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n\r\n\
      GET /smuggled-chunk-2pow64 HTTP/1.1\r\nHost: target\r\n\r\n"),
];

pub(super) const CL_UINT64MAX: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"POST / HTTP/1.1\r\nHost: target\r\nContent-Length: 18446744073709551615\r\n\r\nGET /smu\
      ggled-cl-uint64max HTTP/1.1\r\nHost: target\r\n\r\n"),
];

pub(super) const CL_NEGATIVE: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"POST / HTTP/1.1\r\nHost: target\r\nContent-Length: -1\r\n\r\nGET /smuggled-cl-negative \
      HTTP/1.1\r\nHost: target\r\n\r\n"),
];

pub(super) const TE_CL_DESYNC: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding: chunked\r\nContent-Length: 50\r\n\r\n\
      0\r\n\r\nGET /smuggled-te-cl HTTP/1.1\r\nHost: target\r\n\r\n"),
];

pub(super) const EXPECT_100_CL0: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"POST / HTTP/1.1\r\nHost: target\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\nGET \
      /smuggled-expect-100 HTTP/1.1\r\nHost: target\r\n\r\n"),
];

pub(super) const CL_LEADING_ZEROS: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"POST / HTTP/1.1\r\nHost: target\r\nContent-Length: 00000000000000000000000000000050\r\n\r\n\
      XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXGET /smuggled-leading-zeros HTTP/\
      1.1\r\nHost: target\r\n\r\n"),
];

pub(super) const TE_OBS_FOLD: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\nGET /\
      smuggled-obsfold HTTP/1.1\r\nHost: target\r\n\r\n"),
];

pub(super) const MULTI_VALUE_TE: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n\
      GET /smuggled-multi-te HTTP/1.1\r\nHost: target\r\n\r\n"),
];

pub(super) const NO_URI: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"GET HTTP/1.1\r\n123456789012345678901234567890User-Agent: Wget/1.14 (darwin12.2.0)\r\nA\
      ccept: */*\r\nHost: bro.org\r\nConnection: Keep-Alive\r\n\r\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\nDate: Thu, 07 Mar 2013 21:43:07 GMT\r\nServer: Apache/2.4.3 (Fedora)\r\n\
      Last-Modified: Wed, 29 Aug 2012 23:49:27 GMT\r\nETag: \"1261-4c870358a6fc0\"\r\nAcc\
      ept-Ranges: bytes\r\nContent-Length: 4705\r\nKeep-Alive: timeout=5, max=100\r\nConn\
      ection: Keep-Alive\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n\n0.26 | 2012-\
      08-24 15:10:04 -0700\n\n  * Fixing update-changes, which could pick the wrong contr\
      ol file. (Robin Sommer)\n\n  * Fixing GPG signing script. (Robin Sommer)\n\n0.25 | \
      2012-08-01 13:55:46 -0500\n\n  * Fix configure script to exit with non-zero status \
      on error (Jon Siwek)\n\n0.24 | 2012-07-05 12:50:43 -0700\n\n  * Raise minimum requi\
      red CMake version to 2.6.3 (Jon Siwek)\n\n  * Adding script to delete old fully-mer\
      ged branches. (Robin Sommer)\n\n0.23-2 | 2012-01-25 13:24:01 -0800\n\n  * Fix a bro\
      -cut error message. (Daniel Thayer)\n\n0.23 | 2012-01-11 12:16:11 -0800\n\n  * Twea\
      ks to release scripts, plus a new one for signing files.\n    (Robin Sommer)\n\n0.2\
      2 | 2012-01-10 16:45:19 -0800\n\n  * Tweaks for OpenBSD support. (Jon Siwek)\n\n  * \
      bro-cut extensions and fixes.  (Robin Sommer)\n    \n    - If no field names are gi\
      ven on the command line, we now pass through\n      all fields. Adresses #657.\n\n    \
      - Removing some GNUism from awk script. Addresses #653.\n\n    - Added option for t\
      ime output in UTC. Addresses #668.\n\n    - Added output field separator option -F. \
      Addresses #649.\n\n    - Fixing option -c: only some header lines were passed throu\
      gh\n   "),
    (Direction::ToClient,
     b"   rather than all. (Robin Sommer)\n\n  * Fix parallel make portability. (Jon Siwek)\n\n\
      0.21-9 | 2011-11-07 05:44:14 -0800\n\n  * Fixing compiler warnings. Addresses #388. \
      (Jon Siwek)\n\n0.21-2 | 2011-11-02 18:12:13 -0700\n\n  * Fix for misnaming temp fil\
      e in update-changes script. (Robin Sommer)\n\n0.21-1 | 2011-11-02 18:10:39 -0700\n\n  \
      * Little fix for make-release script, which could pick out the wrong\n    tag. (Rob\
      in Sommer)\n\n0.21 | 2011-10-27 17:40:45 -0700\n\n  * Fixing bro-cut's usage messag\
      e and argument error handling. (Robin Sommer)\n\n  * Bugfix in update-changes scrip\
      t. (Robin Sommer)\n\n  * update-changes now ignores commits it did itself. (Robin S\
      ommer)\n\n  * Fix a bug in the update-changes script. (Robin Sommer)\n\n  * bro-cut \
      now always installs to $prefix/bin by `make install`. (Jon Siwek)\n\n  * Options to \
      adjust time format for bro-cut. (Robin Sommer)\n\n    The default with -d is now IS\
      O format. The new option \"-D <fmt>\"\n    specifies a custom strftime()-style form\
      at string. Alternatively,\n    the environment variable BRO_CUT_TIMEFMT can set the \
      format as\n    well.\n\n  * bro-cut now understands the field separator header. (Ro\
      bin Sommer)\n\n  * Renaming options -h/-H -> -c/-C, and doing some general cleanup.\n\n\
      0.2 | 2011-10-25 19:53:57 -0700\n\n  * Adding support for replacing version string \
      in a setup.py. (Robin\n    Sommer)\n\n  * Change generated root cert DN indices for\
      mat for RFC2253\n    compliance. (Jon Siwek)\n\n  * New tool devel-tool"),
    (Direction::ToClient,
     b"s/check-release to run before making releases.\n    (Robin Sommer)\n\n  * devel-tools/u\
      pdate-changes gets a new option -a to amend to\n    previous commit if possible. De\
      fault is now not to (used to be the\n    opposite). (Robin Sommer)\n\n  * Change Mo\
      zilla trust root generation to index certs by subject DN. (Jon Siwek)\n\n  * Change \
      distclean to only remove build dir. (Jon Siwek)\n\n  * Make dist now cleans the cop\
      ied source (Jon Siwek)\n\n  * Small tweak to make-release for forced git-clean. (Jo\
      n Siwek)\n\n  * Fix to not let updates scripts loose their executable permissions.\n    \
      (Robin Sommer)\n\n  * devel-tools/update-changes now looks for a 'release' tag to\n    \
      idenfify the stable version, and 'beta' for the beta versions.\n    (Robin Sommer).\n\n  \
      * Distribution cleanup. (Robin Sommer)\n\n  * New script devel-tools/make-release t\
      o create source tar balls.\n    (Robin Sommer)\n\n  * Removing bdcat. With the new \
      log format, this isn't very useful\n    anymore. (Robin Sommer)\n\n  * Adding scrip\
      t that shows all pending git fastpath commits. (Robin\n    Sommer)\n\n  * Script to \
      measure CPU time by loading an increasing set of\n    scripts. (Robin Sommer)\n\n  \
      * extract-conn script now deals wit *.gz files. (Robin Sommer)\n\n  * Tiny update t\
      o output a valid CA list file for SSL cert\n    validation. (Seth Hall)\n\n  * Addi\
      ng \"install-aux\" target. Addresses #622. (Jon Siwek)\n\n  * Distribution cleanup. \
      (Jon Siwek and Robin Sommer)\n\n  * FindPCAP now links against"),
    (Direction::ToClient,
     b" thread library when necessary (e.g.\n    PF_RING's libpcap) (Jon Siwek)\n\n  * Install \
      binaries with an RPATH (Jon Siwek)\n\n  * Workaround for FreeBSD CMake port missing \
      debug flags (Jon Siwek)\n\n  * Rewrite of the update-changes script. (Robin Sommer)\n\n\
      0.1-1 | 2011-06-14 21:12:41 -0700\n\n  * Add a script for generating Mozilla's CA l\
      ist for the SSL analyzer.\n    (Seth Hall)\n\n0.1 | 2011-04-01 16:28:22 -0700\n\n  \
      * Converting build process to CMake. (Jon Siwek)\n\n  * Removing cf/hf/ca-* from di\
      stribution. The README has a note where\n    to find them now. (Robin Sommer)\n\n  \
      * General cleanup. (Robin Sommer)\n\n  * Initial import of bro/aux from SVN r7088. \
      (Jon Siwek)\n"),
];

pub(super) const CONNECT_WITH_SMTP: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"CONNECT mailin03.sul.t-online.de:25 / HTTP/1.0\r\nMozilla 4.0 (compatible; MSIE 5.01; W\
      indows NT 5.0)\r\n\r\n"),
    (Direction::ToClient,
     b"HTTP/1.0 200 Connection established\r\n\r\n"),
    (Direction::ToClient,
     b"220 mailin03.sul.t-online.de T-Online ESMTP receiver fssmtpd ready.\r\n"),
    (Direction::ToServer,
     b"HELO 208.191.73.21\r\n"),
    (Direction::ToClient,
     b"250 Ok.\r\n"),
    (Direction::ToServer,
     b"MAIL FROM:<nhfjenna_neumann@lycos.com>\r\n"),
];

pub(super) const INTERLEAVED_ENTITY: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"POST / HTTP/1.1\n"),
    (Direction::ToServer,
     b"Host: interleave.me\n"),
    (Direction::ToServer,
     b"Content-Length: 10\n"),
    (Direction::ToServer,
     b"\n"),
    (Direction::ToServer,
     b"1234\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\n"),
    (Direction::ToClient,
     b"Server: early-responder/0.1\n"),
    (Direction::ToClient,
     b"Content-Length: 3\n"),
    (Direction::ToServer,
     b"4567\n"),
    (Direction::ToClient,
     b"Content-Disposition: attachment; filename=\"test.txt\"\n"),
    (Direction::ToClient,
     b"\n"),
    (Direction::ToClient,
     b"fin\n"),
];

pub(super) const DESYNC_RESPONSES: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: python-requests/2.31.0\r\nAccept-\
      Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\n"),
    (Direction::ToClient,
     b"Content-Type: text/html\r\n"),
    (Direction::ToClient,
     b"Content-Length: 19\r\n\r\n"),
    (Direction::ToClient,
     b"<html>root\n</html>\nHTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 19\r\n\r\n\
      <html>root\n</html>\nHTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: \
      19\r\n\r\n<html>root\n</html>\n"),
    (Direction::ToServer,
     b"GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: python-requests/2.31.0\r\nAccept-\
      Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\n"),
    (Direction::ToClient,
     b"Content-Type: text/html\r\n"),
    (Direction::ToClient,
     b"Content-Length: 19\r\n\r\n"),
    (Direction::ToClient,
     b"<html>root\n</html>\n"),
    (Direction::ToServer,
     b"GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: python-requests/2.31.0\r\nAccept-\
      Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\n"),
    (Direction::ToClient,
     b"Content-Type: text/html\r\n"),
    (Direction::ToClient,
     b"Content-Length: 19\r\n\r\n"),
    (Direction::ToClient,
     b"<html>root\n</html>\n"),
    (Direction::ToServer,
     b"GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: python-requests/2.31.0\r\nAccept-\
      Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\n"),
    (Direction::ToClient,
     b"Content-Type: text/html\r\n"),
    (Direction::ToClient,
     b"Content-Length: 19\r\n\r\n<html>root\n</html>\n"),
    (Direction::ToServer,
     b"GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: python-requests/2.31.0\r\nAccept-\
      Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\n"),
    (Direction::ToClient,
     b"Content-Type: text/html\r\nContent-Length: 19\r\n\r\n<html>root\n</html>\n"),
];

pub(super) const SMUGGLE: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"POST /first HTTP/1.1\r\nHost: localhost\r\nContent-Type: message/rfc822\r\nContent-Leng\
      th: 80\r\nContent-Encoding: gzip\r\n\r\n"),
    (Direction::ToServer,
     b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x01\xff\x00\x00\xff"),
    (Direction::ToServer,
     b"MIME-Version: 1.0\r\nTransfer-Encoding: chunked\r\n\x00\r\n"),
    (Direction::ToServer,
     b"B0001!!!\nBoom?\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.12.3\r\nDate: Fri, 09 Jan 2026 18:17\
      :25 GMT\r\nContent-type: text/html\r\nContent-Length: 35\r\n\r\n"),
    (Direction::ToClient,
     b"POST request received successfully!"),
    (Direction::ToServer,
     b"POST /smuggle-this HTTP/1.1\r\nHost: localhost\r\nContent-Type: message/rfc822\r\nConte\
      nt-Length: 0\r\nContent-Encoding: gzip\r\n\r\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.12.3\r\nDate: Fri, 09 Jan 2026 18:17\
      :25 GMT\r\nContent-type: text/html\r\nContent-Length: 35\r\n\r\n"),
    (Direction::ToClient,
     b"POST request received successfully!"),
];

pub(super) const CONTENT_LENGTH_IN_BODY: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"POST /first HTTP/1.1\r\nHost: localhost\r\nContent-Type: message/rfc822\r\nContent-Leng\
      th: 95\r\n\r\n"),
    (Direction::ToServer,
     b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"),
    (Direction::ToServer,
     b"Body isn't 100000 long!\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.12.3\r\nDate: Mon, 12 Jan 2026 11:01\
      :25 GMT\r\nContent-type: text/html\r\nContent-Length: 35\r\n\r\n"),
    (Direction::ToClient,
     b"POST request received successfully!"),
    (Direction::ToServer,
     b"POST /smuggle-this HTTP/1.1\r\nHost: localhost\r\nContent-Type: message/rfc822\r\nConte\
      nt-Length: 0\r\n\r\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.12.3\r\nDate: Mon, 12 Jan 2026 11:01\
      :26 GMT\r\nContent-type: text/html\r\nContent-Length: 35\r\n\r\n"),
    (Direction::ToClient,
     b"POST request received successfully!"),
];

pub(super) const CONTENT_LENGTH_OVERFLOW: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"GET /bigfile HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\nContent-Length: 2200000000\r\nContent-Type: application/octet-stream\r\n\r\n\
      AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
      AAAAAAAAAAAAAAAAA"),
];

pub(super) const REQUEST_THEN_CRUFT: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"GET / HTTP/1.1\n"),
    (Direction::ToServer,
     b"Host: zeek.org\n\n"),
    (Direction::ToClient,
     b"HTTP/1.1 301 Moved Permanently\r\nServer: nginx\r\nDate: Wed, 30 Nov 2022 15:37:56 GMT\r\n\
      Content-Type: text/html\r\nContent-Length: 162\r\nConnection: keep-alive\r\nLocatio\
      n: https://zeek.org/\r\nX-ac: 2.hhn _atomic_ams BYPASS\r\n\r\n<html>\r\n<head><titl\
      e>301 Moved Permanently</title></head>\r\n<body>\r\n<center><h1>301 Moved Permanent\
      ly</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"),
    (Direction::ToServer,
     b"T / HTTP\n\n"),
    (Direction::ToClient,
     b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nDate: Wed, 30 Nov 2022 15:37:57 GMT\r\nCon\
      tent-Type: text/html\r\nContent-Length: 150\r\nConnection: close\r\nX-ac: 2.hhn _df\
      w BYPASS\r\n\r\n<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n\
      <center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n\
      </html>\r\n"),
    (Direction::ToServer,
     b"T / HTTP\n\n"),
    (Direction::ToServer,
     b"T / HTTP\n\nT / HTTP\n\n"),
];

pub(super) const BAD_REQUEST_WITH_VERSION: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"\xdd\x00\x00\x00 GET /txt HTTP/1.1\r\nConnection: Close\r\nUser-Agent: Microsoft NCSI\r\n\
      Host: www.msftncsi.com\r\n\r\n"),
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nDate: Thu, 07 Jan 2016 22:05:54 GMT\r\nConnect\
      ion: close\r\nContent-Type: text/plain\r\nCache-Control: max-age=30, must-revalidat\
      e\r\n\r\nMicrosoft NCSI"),
];

pub(super) const HTTP09_GET: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"GET /zeek.html\n"),
    (Direction::ToClient,
     b"<html>\n  The Zeek Network Security Monitor\n</html>\n"),
];

pub(super) const HTTP09_POST: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"POST /zeek.html\n"),
    (Direction::ToClient,
     b"bad method\n"),
];

pub(super) const CURL_HTTP09: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"GET /zeek.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.74.0\r\nAccept: */*\r\n\r\n"),
    (Direction::ToClient,
     b"<html>\n  The Zeek Network Security Monitor\n</html>\n"),
];

pub(super) const HTTP09_CONTENT_LENGTH_CONFUSION: &[(Direction, &[u8])] = &[
    (Direction::ToClient,
     b"HTTP/1.1 200 OK\r\n"),
    (Direction::ToClient,
     b"Content-Length: 4\r\n"),
    (Direction::ToClient,
     b"\r\n"),
    (Direction::ToServer,
     b"GET /\r\n"),
    (Direction::ToServer,
     b"\r\n"),
    (Direction::ToClient,
     b"this is too much.\r\n"),
];

pub(super) const NO_VERSION: &[(Direction, &[u8])] = &[
    (Direction::ToServer,
     b"GET /cgi-bin/formmail.pl?email=f2@aol.com&subject=www-nrg.ee/cgi-bin/formmail.pl&recipi\
      ent=unknownz@buy2save.com&msg=w00t\r\n"),
    (Direction::ToClient,
     b"<HTML><HEAD><TITLE>404 Not Found</TITLE></HEAD>\n<BODY BGCOLOR=\"#cc9999\"><H2>404 Not \
      Found</H2>\nThe requested URL '/cgi-bin/formmail.pl?email=f2@aol.com&subject=www-nr\
      g.ee/cgi-bin/formmail.pl&rec' was not found on this server.\n<HR>\n<ADDRESS><A HREF\
      =\"http://www.acme.com/software/thttpd/\">thttpd</A></ADDRESS>\n</BODY></HTML>\n"),
];
