package deps
import (
 _ "github.com/antchfx/xmlquery"
 _ "github.com/lib/pq"
 _ "modernc.org/sqlite"
 _ "github.com/pkg/sftp"
 _ "golang.org/x/crypto/ssh"
 _ "golang.org/x/crypto/ssh/knownhosts"
 _ "github.com/go-mail/mail/v2"
 _ "go.yaml.in/yaml/v3"
 _ "github.com/emersion/go-smtp"
 _ "golang.org/x/text/encoding/charmap"
 _ "golang.org/x/text/encoding/unicode"
 _ "github.com/adhocore/gronx"
)
