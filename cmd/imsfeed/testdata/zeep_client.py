"""A SOAP client nobody here wrote: Python's zeep loads imsfeed's WSDL over HTTPS and calls the
IMS ES operations with a WS-Security UsernameToken. Prints one line per call; exits non-zero on
the first surprise. Usage: zeep_client.py WSDL_URL CA_FILE USERNAME PASSWORD"""
import sys

import requests
from zeep import Client, Settings
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

wsdl, ca, user, password = sys.argv[1:5]
session = requests.Session()
session.verify = ca
session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
client = Client(wsdl, transport=Transport(session=session), wsse=UsernameToken(user, password),
                settings=Settings(strict=True))
pms = client.bind("PersonManagementService", "PersonManagementPort")
seq = [0]


def header():
    seq[0] += 1
    return {"syncRequestHeaderInfo": {"messageIdentifier": "zeep-%d" % seq[0]}}


def status(what, res, want="success"):
    info = res.header.syncResponseHeaderInfo
    infos = [info.statusInfo] if info.statusInfo is not None else info.statusInfoSet.statusInfo
    majors = [i.codeMajor for i in infos]
    print(what, majors)
    if any(m != want for m in majors):
        sys.exit("%s: want %s, got %s" % (what, want, [(i.codeMajor, i.description) for i in infos]))
    return res.body


def person(first, last, email=None):
    p = {"name": {"partName": [{"namePartType": "First", "namePartValue": first},
                               {"namePartType": "Last", "namePartValue": last}]},
         "userId": [{"userIdValue": (first + "." + last).lower(), "passWord": "pw-" + first}],
         "institutionRole": [{"institutionRoleType": "Student", "primaryRoleType": True}],
         "demographics": {"bday": "2012-05-01"}}
    if email:
        p["email"] = email
    return p


status("createPerson", pms.createPerson(sourcedId={"identifier": "Z1"}, person=person("Zoe", "Zeep", "zoe@example.org"),
                                        _soapheaders=header()))
body = status("readPerson", pms.readPerson(sourcedId={"identifier": "Z1"}, _soapheaders=header()))
p = body.person
if p.formatName != "Zoe Zeep" or p.email != "zoe@example.org" or p.userId[0].userIdValue != "zoe.zeep" or p.userId[0].passWord:
    sys.exit("readPerson: %s" % p)
status("replacePerson", pms.replacePerson(sourcedId={"identifier": "Z1"}, person=person("Zoe", "Zeep"), _soapheaders=header()))
status("updatePerson", pms.updatePerson(sourcedId={"identifier": "Z1"}, person={"email": "zoe@school.example.org"},
                                        _soapheaders=header()))
p = status("readPerson", pms.readPerson(sourcedId={"identifier": "Z1"}, _soapheaders=header())).person
if p.email != "zoe@school.example.org" or p.formatName != "Zoe Zeep":
    sys.exit("update changed more than it carried: %s" % p)
pairs = [{"sourcedId": {"identifier": "Z%d" % i}, "person": person("P%d" % i, "Zeep")} for i in range(2, 6)]
status("createPersons", pms.createPersons(personIdPairSet={"personIdPair": pairs}, _soapheaders=header()))
body = status("readPersons", pms.readPersons(sourcedIdSet={"identifier": ["Z2", "Z5"]}, _soapheaders=header()))
if [x.sourcedId.identifier for x in body.personIdPairSet.personIdPair] != ["Z2", "Z5"]:
    sys.exit("readPersons: %s" % body)
status("deletePerson", pms.deletePerson(sourcedId={"identifier": "Z1"}, _soapheaders=header()))
status("readPerson of a deleted person", pms.readPerson(sourcedId={"identifier": "Z1"}, _soapheaders=header()), "failure")

gms = client.bind("GroupManagementService", "GroupManagementPort")
status("createGroup", gms.createGroup(sourcedId={"identifier": "ZG"}, group={
    "groupType": [{"scheme": "x", "typeValue": [{"type": "Course"}]}],
    "description": {"descShort": "Zeep course"}}, _soapheaders=header()))
mms = client.bind("MembershipManagementService", "MembershipManagementPort")
status("createMembership", mms.createMembership(sourcedId={"identifier": "ZM"}, membership={
    "groupSourcedId": {"identifier": "ZG"},
    "member": {"memberSourcedId": {"identifier": "Z2"}, "role": [{"roleType": "Learner"}]}}, _soapheaders=header()))
body = status("readMembershipsForGroup", mms.readMembershipsForGroup(groupSourcedId={"identifier": "ZG"}, _soapheaders=header()))
if body.membershipIDPairSet.membershipIdPair[0].sourcedId.identifier != "ZM":
    sys.exit("readMembershipsForGroup: %s" % body)
print("zeep: all calls answered as expected")
