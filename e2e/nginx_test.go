//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Debian's dynamic mail module (package libnginx-mod-mail).
const nginxMailModule = "/usr/lib/nginx/modules/ngx_mail_module.so"

// nginxSite is one TLS listener: HTTPS, or a mail protocol (smtp, imap, pop3) with STARTTLS.
type nginxSite struct {
	listen   string // host:port; IPv6 as [::1]:port
	protocol string // "" for HTTPS
	cert     string // certificate (chain) file
	key      string
	// clientCA, when set, makes an HTTPS listener require a client certificate issued under it
	// (mTLS): nginx refuses a missing or unverifiable one with a 400.
	clientCA string
	// crl, with clientCA, is the ssl_crl file: nginx checks every client certificate of the
	// chain against it and refuses them all once a CRL in it is past its nextUpdate.
	crl string
}

// startNginx runs nginx in the foreground with its own prefix under dir. Mail listeners get an
// auth_http endpoint served by the test, as the mail proxy requires one.
func startNginx(t testing.TB, dir string, sites ...nginxSite) *proc {
	t.Helper()
	bin := needTool(t, "nginx")
	var httpSites, mailSites strings.Builder
	hasMail := false
	for _, s := range sites {
		if s.protocol == "" {
			fmt.Fprintf(&httpSites, `
    server {
        listen %s ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;%s
        location / { return 200 "ok\n"; }
    }`, s.listen, s.cert, s.key, clientVerify(s.clientCA, s.crl))
			continue
		}
		hasMail = true
		fmt.Fprintf(&mailSites, `
    server {
        listen %s;
        protocol %s;
        starttls on;
        ssl_certificate %s;
        ssl_certificate_key %s;
    }`, s.listen, s.protocol, s.cert, s.key)
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
%[2]s
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
%[3]s
}
%[4]s
`, dir, loadMail(hasMail, t), httpSites.String(), mailBlock(t, hasMail, mailSites.String()))
	path := filepath.Join(dir, "nginx.conf")
	writeFile(t, path, []byte(conf))
	writeFile(t, filepath.Join(dir, "tmp", ".keep"), nil)
	p := startTestProc(t, "nginx "+filepath.Base(dir), exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log")), filepath.Join(dir, "nginx.stderr"))
	for _, s := range sites {
		waitTCP(t, p, s.listen, 20*time.Second)
	}
	return p
}

func clientVerify(ca, crl string) string {
	if ca == "" {
		return ""
	}
	v := fmt.Sprintf("\n        ssl_verify_client on;\n        ssl_verify_depth 2;\n        ssl_client_certificate %s;", ca)
	if crl != "" {
		v += fmt.Sprintf("\n        ssl_crl %s;", crl)
	}
	return v
}

func loadMail(hasMail bool, t testing.TB) string {
	if !hasMail {
		return ""
	}
	return "load_module " + needFile(t, nginxMailModule) + ";"
}

// mailBlock is the mail{} context; its auth_http answers every login with the test's own
// backend, which is never reached because probes stop after the TLS handshake.
func mailBlock(t testing.TB, hasMail bool, servers string) string {
	if !hasMail {
		return ""
	}
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Auth-Status", "OK")
		w.Header().Set("Auth-Server", "127.0.0.1")
		w.Header().Set("Auth-Port", "9")
	}))
	t.Cleanup(auth.Close)
	return fmt.Sprintf(`mail {
    auth_http %s/auth;
%s
}`, strings.TrimPrefix(auth.URL, "http://"), servers)
}

// needFile is needTool for a file that a package installs.
func needFile(t testing.TB, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		missing(t, path)
	}
	return path
}

// loopbackAddr joins a loopback IP and a port.
func loopbackAddr(ip string, port int) string { return net.JoinHostPort(ip, fmt.Sprint(port)) }
