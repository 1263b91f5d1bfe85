package imses

import "net/http"

// serveWSDL answers GET ?wsdl. TODO(live): imsfeed's own WSDL; until then a fault says so.
func (h *Handler) serveWSDL(rw http.ResponseWriter, r *http.Request) {
	writeXML(rw, http.StatusNotFound, fault("Client", "the WSDL is not served yet"))
}
