package soap

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"time"
)

// Namespaces of SOAP 1.1 and WS-Security.
const (
	NS       = "http://schemas.xmlsoap.org/soap/envelope/"
	NS12     = "http://www.w3.org/2003/05/soap-envelope"
	NSWSSE   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NSWSU    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	PassText = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
)

// Envelope is what a request's SOAP envelope says.
type Envelope struct {
	Header             []*Node // the header blocks
	Username, Password string
	// HasToken: a UsernameToken came (else HTTP Basic may stand in); Digest: its password is
	// not PasswordText, which never matches.
	HasToken, Digest bool
	Body             *Node // the request element: the Body's first child
}

// Fault is a request that cannot be read as a SOAP request: Code is the SOAP 1.1 faultcode.
type Fault struct{ Code, Msg string }

func (f *Fault) Error() string { return f.Code + ": " + f.Msg }

// ReadEnvelope parses a SOAP 1.1 request. understood says which header blocks the dialect
// processes (WS-Security is always understood); any other with mustUnderstand is a fault.
func ReadEnvelope(body []byte, understood func(*Node) bool) (*Envelope, *Fault) {
	return readEnvelope(bytes.NewReader(body), understood, func() bool { return len(bytes.TrimSpace(body)) == 0 })
}

// readEnvelope is ReadEnvelope of a body read as it comes; blank tells, once it is read, whether
// it held nothing but white space.
func readEnvelope(body io.Reader, understood func(*Node) bool, blank func() bool) (*Envelope, *Fault) {
	root, err := Parse(body)
	if err != nil && blank() { // a blank body never parses
		return nil, &Fault{"Client", "empty request: send a SOAP 1.1 envelope"}
	}
	if err != nil {
		var ref ErrRefused
		if errors.As(err, &ref) {
			return nil, &Fault{"Client", "request refused: " + ref.Msg}
		}
		return nil, &Fault{"Client", "the request is not well-formed XML: " + err.Error()}
	}
	if root.Local != "Envelope" {
		return nil, &Fault{"Client", "the request is not a SOAP envelope (root element <" + root.Local + ">)"}
	}
	if root.Space() == NS12 {
		return nil, &Fault{"VersionMismatch", "SOAP 1.2 is not supported: send SOAP 1.1"}
	}
	if root.Space() != NS {
		return nil, &Fault{"VersionMismatch", "the envelope's namespace is not SOAP 1.1's (" + NS + ")"}
	}
	env := &Envelope{}
	if h := root.Child("Header"); h != nil {
		env.Header = h.Kids
	}
	for _, hb := range env.Header {
		sec := hb.Space() == NSWSSE && hb.Local == "Security"
		if mu, ok := hb.Attr(NS, "mustUnderstand"); ok && (strings.TrimSpace(mu) == "1" || strings.TrimSpace(mu) == "true") && !sec && !understood(hb) {
			return nil, &Fault{"MustUnderstand", "header " + hb.Local + " (" + hb.Space() + ") is not understood"}
		}
		if !sec {
			continue
		}
		if tok := hb.Child("UsernameToken"); tok != nil {
			env.HasToken = true
			env.Username = tok.Child("Username").Str()
			if pw := tok.Child("Password"); pw != nil {
				env.Password = pw.Text
				if t, ok := pw.Attr("", "Type"); ok && strings.TrimSpace(t) != "" && strings.TrimSpace(t) != PassText {
					env.Digest = true // only PasswordText is supported: a digest never matches
				}
			}
		}
	}
	b := root.Child("Body")
	if b == nil {
		return nil, &Fault{"Client", "the envelope has no Body"}
	}
	if len(b.Kids) == 0 {
		return nil, &Fault{"Client", "the Body holds no request element"}
	}
	env.Body = b.Kids[0]
	return env, nil
}

// FaultXML is a SOAP 1.1 fault: the request could not be read as a SOAP request at all.
func FaultXML(code, msg string) []byte {
	return []byte(`<s:Envelope xmlns:s="` + NS + `"><s:Body><s:Fault><faultcode>s:` + code + `</faultcode><faultstring xml:lang="en">` +
		Esc(msg) + `</faultstring></s:Fault></s:Body></s:Envelope>`)
}

// Timestamp is a wsse:Security header with a wsu:Timestamp (WCF clients reject an answer
// without one); the envelope must bind prefix s to SOAP and u to NSWSU.
func Timestamp(now time.Time) string {
	return `<o:Security s:mustUnderstand="1" xmlns:o="` + NSWSSE + `"><u:Timestamp u:Id="_0"><u:Created>` +
		now.UTC().Format("2006-01-02T15:04:05.000Z") + `</u:Created><u:Expires>` + now.Add(5*time.Minute).UTC().Format("2006-01-02T15:04:05.000Z") +
		`</u:Expires></u:Timestamp></o:Security>`
}

// Dialects: the values LooksLike answers.
const (
	IMSES = "imses1" // IMS Enterprise Services 1.0
	LIS   = "lis2"   // IMS LIS 2.0
)

// LooksLike says which dialect a request looks like by its body's namespace, its IMS header and
// (LIS 2.0) its *Record elements: IMSES, LIS or "" when it does not tell. A dialect's endpoint
// refuses the other's request by name rather than failing on a part it does not find.
func LooksLike(e *Envelope) string {
	ns := e.Body.Space()
	switch {
	case strings.Contains(ns, "imsglobal.org/services/lis/"):
		return LIS
	case strings.HasPrefix(ns, "http://www.imsglobal.org/services/") && strings.HasSuffix(ns, "ManMessSchema_v1p0"):
		return IMSES
	}
	for _, h := range e.Header {
		switch h.Local {
		case "imsx_syncRequestHeaderInfo":
			return LIS
		case "syncRequestHeaderInfo":
			return IMSES
		}
	}
	for _, k := range e.Body.Kids {
		if strings.HasSuffix(k.Local, "Record") {
			return LIS
		}
	}
	return ""
}
