package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// TestKubernetes: a bare `kubernetes:` is the in-cluster defaults; every field's error names its
// path.
func TestKubernetes(t *testing.T) {
	def := func(k Kubernetes) Kubernetes {
		k.defaults()
		return k
	}
	checkSection(t, func(c *Config) []Kubernetes {
		if c.Kubernetes == nil {
			return nil
		}
		return []Kubernetes{*c.Kubernetes}
	}, []parsed[Kubernetes]{
		{"kubernetes:\n", []Kubernetes{{Secrets: KubeSecrets{Types: []string{"kubernetes.io/tls"}, Keys: []string{"tls.crt"}}, MaxValueSize: 256 << 10}}},
		{"kubernetes: {}\n", []Kubernetes{def(Kubernetes{})}},
		{"files: []\n", nil},
		// A bare cert_manager: is the defaults, as a bare kubernetes: is.
		{"kubernetes:\n  cert_manager:\n", []Kubernetes{def(Kubernetes{CertManager: &KubeCertManager{}})}},
		{"kubernetes: {cert_manager: {acme: false}}\n", []Kubernetes{def(Kubernetes{CertManager: &KubeCertManager{ACME: new(false)}})}},
		// A bare ingresses: too.
		{"kubernetes:\n  ingresses:\n", []Kubernetes{def(Kubernetes{Ingresses: &KubeIngresses{Module: "tls", Port: 443, Interval: model.Duration(5 * time.Minute)}})}},
		{"modules: {in: {timeout: 3s}}\nkubernetes: {ingresses: {module: in, address: 'ingress-nginx-controller.ingress-nginx.svc:8443', port: 8443, interval: 1m}}\n",
			[]Kubernetes{def(Kubernetes{Ingresses: &KubeIngresses{Module: "in", Address: "ingress-nginx-controller.ingress-nginx.svc:8443", Port: 8443, Interval: model.Duration(time.Minute)}})}},
		// A bare gateways: too; with label-selected namespaces, as the Secrets'.
		{"kubernetes:\n  gateways:\n", []Kubernetes{def(Kubernetes{Gateways: &KubeGateways{Module: "tls", Interval: model.Duration(5 * time.Minute)}})}},
		{"modules: {gw: {timeout: 3s}}\nkubernetes: {namespaces: {label_selector: team=web}, ingresses: {}, gateways: {module: gw, address: 'envoy.gw.svc', interval: 2m}}\n",
			[]Kubernetes{def(Kubernetes{Namespaces: KubeNamespaces{LabelSelector: "team=web"}, Ingresses: &KubeIngresses{},
				Gateways: &KubeGateways{Module: "gw", Address: "envoy.gw.svc", Interval: model.Duration(2 * time.Minute)}})}},
		// A bare configmaps: reads the *.crt and *.pem keys of every ConfigMap.
		{"kubernetes:\n  configmaps:\n", []Kubernetes{def(Kubernetes{ConfigMaps: &KubeConfigMaps{Keys: []string{"*.crt", "*.pem"}}})}},
		{"kubernetes: {configmaps: {keys: [ca.crt, 'bundle-*'], label_selector: 'trust.example.test/bundle=true'}}\n",
			[]Kubernetes{def(Kubernetes{ConfigMaps: &KubeConfigMaps{Keys: []string{"ca.crt", "bundle-*"}, LabelSelector: "trust.example.test/bundle=true"}})}},
		{"kubernetes: {namespaces: {label_selector: 'team in (web,db),!legacy'}}\n", []Kubernetes{def(Kubernetes{Namespaces: KubeNamespaces{LabelSelector: "team in (web,db),!legacy"}})}},
		{`kubernetes:
  kubeconfig: /etc/kube/config
  namespaces: {include: [web, db], exclude: [kube-system]}
  secrets: {types: [kubernetes.io/tls, Opaque], keys: ["*.pem", tls.crt], pkcs12_password_file: /run/p12}
  max_value_size: 1048576
  lift_labels: {team: app.kubernetes.io/part-of}
  lift_annotations: {owner: example.com/owner}
  labels: {env: prod}
`, []Kubernetes{{
			Kubeconfig:   "/etc/kube/config",
			Namespaces:   KubeNamespaces{Include: []string{"web", "db"}, Exclude: []string{"kube-system"}},
			Secrets:      KubeSecrets{Types: []string{"kubernetes.io/tls", "Opaque"}, Keys: []string{"*.pem", "tls.crt"}, PKCS12PasswordFile: "/run/p12"},
			MaxValueSize: 1 << 20, LiftLabels: map[string]string{"team": "app.kubernetes.io/part-of"},
			LiftAnnotations: map[string]string{"owner": "example.com/owner"}, Labels: Labels{"env": "prod"},
		}}},
	}, [][2]string{
		{"kubernetes:\n  kubeconfg: /x\n", "kubernetes.kubeconfg: field not found (line 2)"},
		{"kubernetes:\n  namespaces: {includes: [a]}\n", "kubernetes.namespaces.includes: field not found (line 2)"},
		{"kubernetes:\n  namespaces: {include: [Web]}\n", `kubernetes.namespaces.include[0]: "Web" is not a namespace name`},
		{"kubernetes:\n  namespaces: {include: [a, a]}\n", `kubernetes.namespaces.include[1]: "a" listed twice`},
		{"kubernetes:\n  namespaces: {include: [a], exclude: [b, a]}\n", `kubernetes.namespaces.exclude[1]: "a" is also included`},
		{"kubernetes:\n  namespaces: {label_selector: 'a=b=c'}\n", "kubernetes.namespaces.label_selector: "},
		{"kubernetes:\n  secrets: {types: ['a b']}\n", `kubernetes.secrets.types[0]: "a b" is not a Secret type`},
		{"kubernetes:\n  secrets: {types: [Opaque, Opaque]}\n", `kubernetes.secrets.types[1]: "Opaque" listed twice`},
		{"kubernetes:\n  secrets: {keys: ['[']}\n", `kubernetes.secrets.keys[0]: bad glob "["`},
		{"kubernetes:\n  secrets: {keys: [tls.crt, 'tls.*']}\n", `kubernetes.secrets.keys[1]: "tls.*" matches tls.key, the private key, which is never read`},
		{"kubernetes:\n  secrets: {pkcs12_password: x}\n", "kubernetes.secrets.pkcs12_password: field not found"},
		{"kubernetes:\n  max_value_size: 2000000\n", "kubernetes.max_value_size: must be between 1 and 1048576"},
		{"kubernetes:\n  max_value_size: -1\n", "kubernetes.max_value_size: must be between 1 and 1048576"},
		{"kubernetes:\n  labels: {namespace: x}\n", `kubernetes.labels.namespace: "namespace" is a label the exporter or Prometheus sets`},
		{"kubernetes:\n  lift_labels: {secret: a}\n", `kubernetes.lift_labels.secret: "secret" is a label the exporter or Prometheus sets`},
		{"kubernetes:\n  lift_labels: {team-x: a}\n", "kubernetes.lift_labels.team-x: invalid label name"},
		{"kubernetes:\n  lift_labels: {team: 'a b'}\n", `kubernetes.lift_labels.team: "a b" is not an object label name`},
		{"kubernetes:\n  lift_annotations: {team: ''}\n", `kubernetes.lift_annotations.team: "" is not an object annotation name`},
		{"kubernetes:\n  labels: {team: x}\n  lift_labels: {team: a}\n", "kubernetes.lift_labels.team: also a static label in kubernetes.labels"},
		{"kubernetes:\n  lift_labels: {team: a}\n  lift_annotations: {team: a}\n", "kubernetes.lift_labels.team: also lifted from an annotation in kubernetes.lift_annotations"},
		{"kubernetes:\n  lift_labels: {a: x, b: x, c: x, d: x, e: x}\n  lift_annotations: {f: x, g: x, h: x, i: x}\n", "kubernetes: 9 lifted labels and annotations, at most 8"},
		{"files:\n  - paths: [a]\n    labels: {a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1}\n  - paths: [b]\n    labels: {i: 1, j: 1, k: 1, l: 1, m: 1, n: 1, o: 1, p: 1}\nkubernetes:\n  lift_labels: {q: x}\n", "kubernetes: the config uses more than 16 distinct owner label names"},
		{"kubernetes:\n  cert_manager: {orders: false}\n", "kubernetes.cert_manager.orders: field not found (line 2)"},
		{"kubernetes:\n  cert_manager: {acme: sometimes}\n", "cannot unmarshal !!str `sometimes` into bool"},
		{"kubernetes: 3\n", "cannot unmarshal !!int `3` into config.Kubernetes"},
		{"kubernetes:\n  ingresses: {module: nope}\n", `kubernetes.ingresses.module: unknown module "nope"`},
		{"modules: {smtp: {starttls: smtp}}\nkubernetes:\n  ingresses: {module: smtp}\n", `kubernetes.ingresses.module: module "smtp" uses starttls smtp; an Ingress serves TLS at once`},
		{"modules: {p: {proxy_url: 'http://proxy:3128'}}\nkubernetes:\n  ingresses: {module: p}\n", `kubernetes.ingresses.module: module "p" uses proxy_url`},
		{"kubernetes:\n  ingresses: {port: 70000}\n", "kubernetes.ingresses.port: must be between 1 and 65535"},
		{"kubernetes:\n  ingresses: {interval: 10ms}\n", "kubernetes.ingresses.interval: must be at least 1s"},
		{"kubernetes:\n  ingresses: {address: 'https://ctl'}\n", `kubernetes.ingresses.address: target "https://ctl" is a URL`},
		{"kubernetes:\n  ingresses: {addr: ctl}\n", "kubernetes.ingresses.addr: field not found (line 2)"},
		{"kubernetes:\n  gateways: {module: nope}\n", `kubernetes.gateways.module: unknown module "nope"`},
		{"modules: {smtp: {starttls: smtp}}\nkubernetes:\n  gateways: {module: smtp}\n", `kubernetes.gateways.module: module "smtp" uses starttls smtp; a Gateway serves TLS at once`},
		{"modules: {p: {proxy_url: 'http://proxy:3128'}}\nkubernetes:\n  gateways: {module: p}\n", `kubernetes.gateways.module: module "p" uses proxy_url, which dials the host's own addresses, not the gateway's`},
		{"kubernetes:\n  gateways: {interval: 10ms}\n", "kubernetes.gateways.interval: must be at least 1s"},
		{"kubernetes:\n  gateways: {address: 'https://gw'}\n", `kubernetes.gateways.address: target "https://gw" is a URL`},
		// The listeners name their ports.
		{"kubernetes:\n  gateways: {port: 443}\n", "kubernetes.gateways.port: field not found (line 2)"},
		{"kubernetes:\n  configmaps: {keys: ['[']}\n", `kubernetes.configmaps.keys[0]: bad glob "["`},
		{"kubernetes:\n  configmaps: {keys: ['']}\n", `kubernetes.configmaps.keys[0]: bad glob ""`},
		{"kubernetes:\n  configmaps: {label_selector: 'a=b=c'}\n", "kubernetes.configmaps.label_selector: "},
		{"kubernetes:\n  configmaps: {key: [ca.crt]}\n", "kubernetes.configmaps.key: field not found (line 2)"},
		{"kubernetes:\n  configmaps: [ca.crt]\n", "cannot unmarshal !!seq into config.KubeConfigMaps"},
		{"kubernetes:\n  lift_labels: {configmap: a}\n", `kubernetes.lift_labels.configmap: "configmap" is a label the exporter or Prometheus sets`},
	})
}

// TestLoadChecksKubernetesFiles: a kubeconfig or password file that cannot be read fails the
// load, naming its field.
func TestLoadChecksKubernetesFiles(t *testing.T) {
	dir := t.TempDir()
	for field, doc := range map[string]string{
		"kubernetes.kubeconfig":                   "kubernetes:\n  kubeconfig: " + filepath.Join(dir, "nope") + "\n",
		"kubernetes.secrets.pkcs12_password_file": "kubernetes:\n  secrets: {pkcs12_password_file: " + filepath.Join(dir, "nope") + "}\n",
	} {
		p := filepath.Join(dir, "c.yml")
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), field+": ") {
			t.Errorf("%s: error %v, want it to name the field", field, err)
		}
	}
}

// TestIngressAddress: the address dialled for every host takes kubernetes.ingresses.port (a
// Gateway listener's port) when it names none.
func TestIngressAddress(t *testing.T) {
	for addr, want := range map[string]string{
		"":                     "",
		"ctl.ns.svc":           "ctl.ns.svc:8443",
		"ctl.ns.svc:443":       "ctl.ns.svc:443",
		"10.0.0.1":             "10.0.0.1:8443",
		"fd00::1":              "[fd00::1]:8443",
		"[fd00:0::1]:443":      "[fd00::1]:443",
		"CTL.example.test:444": "CTL.example.test:444",
	} {
		in, gw := KubeIngresses{Address: addr, Port: 8443}, KubeGateways{Address: addr}
		if got, gwGot := in.IngressAddress(), gw.GatewayAddress(8443); got != want || gwGot != want {
			t.Errorf("%q: %q and %q, want %q", addr, got, gwGot, want)
		}
	}
}
