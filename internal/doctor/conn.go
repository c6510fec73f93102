package doctor

import (
	"fmt"
	"math"
	"time"
)

// connChecks: the settings, the API's reachability, TLS, the token and
// the PVE version.
func connChecks(s *Snapshot) []Result {
	if s.Conn.Err != "" {
		return []Result{fail("config", "connection settings", s.Conn.Err,
			"write the env file (README, \"Connecting to Proxmox\"): PROXMOX_URL, PROXMOX_TOKEN_ID, PROXMOX_TOKEN_SECRET, mode 0600, and name it with --env-file or TEMPLATED_ENV_FILE")}
	}
	a := s.API
	out := []Result{pass("config", "connection settings", fmt.Sprintf("%s as %s", s.Conn.URL, s.Conn.TokenID))}
	if a == nil {
		return out
	}
	if p := a.CertErr; p != nil {
		return append(out, fail("api", "API reachable", p.Msg,
			"check PROXMOX_URL (https://HOST:8006), that pveproxy runs on the node (systemctl status pveproxy) and that no firewall blocks port 8006 from here"))
	}
	out = append(out, pass("api", "API reachable", s.Conn.URL))
	out = append(out, tlsChecks(s)...)
	if p := a.VersionErr; p != nil {
		switch p.Kind {
		case KindAuth:
			return append(out, fail("token", "API token", "Proxmox refused the token "+s.Conn.TokenID+": "+p.Msg,
				"check PROXMOX_TOKEN_ID and PROXMOX_TOKEN_SECRET; list the user's tokens with `pveum user token list USER@REALM` and make a new one with `pveum user token add` (docs/permissions.md)"))
		case KindTLS:
			return out // tlsChecks said it
		default:
			return append(out, fail("token", "API token", "GET /version failed: "+p.Msg, "fix what the message says, then run doctor again"))
		}
	}
	out = append(out, pass("token", "API token", s.Conn.TokenID+" accepted"))
	return append(out, versionCheck(a.Version))
}

func tlsChecks(s *Snapshot) []Result {
	c := s.API.Cert
	var out []Result
	switch {
	case s.Conn.Insecure:
		out = append(out, warn("tls", "TLS", "certificate verification is off (PROXMOX_INSECURE_SKIP_TLS_VERIFY=true): anyone on the path can read the API token",
			"copy the node's /etc/pve/pve-root-ca.pem here, set PROXMOX_CA_FILE to it and remove PROXMOX_INSECURE_SKIP_TLS_VERIFY"))
	case c.VerifyErr != "":
		return append(out, fail("tls", "TLS", "the certificate of "+s.Conn.URL+" ("+c.Subject+", issued by "+c.Issuer+") does not verify: "+c.VerifyErr,
			"copy the node's /etc/pve/pve-root-ca.pem to the control node and set PROXMOX_CA_FILE to it (or install a certificate from a CA the system trusts)"))
	case s.Conn.CAFile != "":
		out = append(out, pass("tls", "TLS", "verified with PROXMOX_CA_FILE "+s.Conn.CAFile))
	default:
		out = append(out, pass("tls", "TLS", "verified with the system's CAs"))
	}
	left := c.NotAfter.Sub(s.Now)
	days := int(math.Floor(left.Hours() / 24))
	exp := "expires " + c.NotAfter.Format(time.DateOnly)
	switch {
	case left <= 0:
		out = append(out, fail("tls-expiry", "API certificate expiry", "the certificate of "+s.Conn.URL+" expired on "+c.NotAfter.Format(time.DateOnly),
			"renew it on the node (`pvecm updatecerts --force` for the self-signed one, or ACME: `pvenode acme cert renew`)"))
	case days < 30:
		out = append(out, warn("tls-expiry", "API certificate expiry", fmt.Sprintf("the certificate of %s expires in %s (%s)", s.Conn.URL, plural(days, "day", "days"), c.NotAfter.Format(time.DateOnly)),
			"renew it on the node (`pvenode acme cert renew`, or `pvecm updatecerts --force`) before it expires"))
	default:
		out = append(out, pass("tls-expiry", "API certificate expiry", exp))
	}
	return out
}

func versionCheck(v string) Result {
	switch m := major(v); {
	case m == 8 || m == 9:
		return pass("version", "Proxmox VE version", v)
	case m > 9:
		return warn("version", "Proxmox VE version", "Proxmox VE "+v+" is newer than templated knows (8 and 9): privilege names may have changed",
			"compare docs/permissions.md with the release notes' privilege changes")
	default:
		return fail("version", "Proxmox VE version", "Proxmox VE "+v+" is not supported: templated needs 8 or 9",
			"upgrade the cluster to Proxmox VE 8 or 9")
	}
}
