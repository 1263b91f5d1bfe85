"""A SOAP client nobody here wrote: Python's zeep loads imsfeed's IMS LIS 2.0 WSDL over HTTPS and
calls replacePerson, readPerson, replaceGroup, replaceMembership, readMembershipsForPerson,
replaceCourseSection, replaceSectionAssociation, readSectionAssociation and deletePerson with a WS-Security UsernameToken. Prints one line per call; exits non-zero on the
first surprise. Usage: zeep_lis_client.py WSDL_URL CA_FILE USERNAME PASSWORD"""
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
seq = [0]


def header():
    seq[0] += 1
    return {"imsx_syncRequestHeaderInfo": {"imsx_version": "V1.0", "imsx_messageIdentifier": "zeep-lis-%d" % seq[0]}}


def status(what, res, want="success"):
    info = res.header.imsx_syncResponseHeaderInfo.imsx_statusInfo
    print(what, info.imsx_codeMajor)
    if info.imsx_codeMajor != want:
        sys.exit("%s: want %s, got %s %s" % (what, want, info.imsx_codeMajor, info.imsx_description))
    return res.body


def t(v):
    return {"language": "en", "textString": v}


def vocab(v):
    return {"instanceValue": t(v)}


def part(name, v):
    return {"instanceName": t(name), "instanceValue": t(v)}


person = {
    "formname": [{"formnameType": vocab("Full"), "formattedName": t("Zoe Zeep")}],
    "name": [{"nameType": vocab("Full"), "partName": [part("First", "Zoe"), part("Last", "Zeep")]},
             {"nameType": vocab("Preferred"), "partName": [part("First", "Zo")]}],
    "contactinfo": [{"contactinfoType": vocab("EmailPrimary"), "contactinfoValue": t("zoe@example.org")}],
    "roles": {"institutionRole": [{"institutionroletype": vocab("Student"), "primaryroletype": True}],
              "userId": [{"userIdValue": t("zoe.zeep"), "password": t("pw-zoe")}]},
}
pms = client.bind("PersonManagementService", "PersonManagementPort")
status("replacePerson", pms.replacePerson(sourcedId="Z1", personRecord={"sourcedGUID": {"sourcedId": "Z1"}, "person": person},
                                          _soapheaders=header()))
body = status("readPerson", pms.readPerson(sourcedId="Z1", _soapheaders=header()))
p = body.personRecord.person
names = {n.nameType.instanceValue.textString: n for n in p.name}
if (p.formname[0].formattedName.textString != "Zoe Zeep" or p.contactinfo[0].contactinfoValue.textString != "zoe@example.org"
        or names["Preferred"].partName[0].instanceValue.textString != "Zo"
        or p.roles.userId[0].userIdValue.textString != "zoe.zeep" or p.roles.userId[0].password is not None):
    sys.exit("readPerson: %s" % p)

gms = client.bind("GroupManagementService", "GroupManagementPort")
status("replaceGroup", gms.replaceGroup(sourcedId="ZG", groupRecord={"sourcedGUID": {"sourcedId": "ZG"}, "group": {
    "groupType": [{"scheme": t("IMS-LIS2.0"), "typevalue": [{"id": "Course", "type": t("Course")}]}],
    "description": {"shortDescription": "Zeep course"}}}, _soapheaders=header()))
mms = client.bind("MembershipManagementService", "MembershipManagementPort")
status("replaceMembership", mms.replaceMembership(sourcedId="ZM", membershipRecord={"sourcedGUID": {"sourcedId": "ZM"}, "membership": {
    "collectionSourcedId": "ZG", "membershipIdType": "courseSection",
    "member": [{"personSourcedId": "Z1", "role": [{"roleType": "Learner", "status": "Active"}]}]}}, _soapheaders=header()))
body = status("readMembershipsForPerson", mms.readMembershipsForPerson(personSourcedId="Z1", _soapheaders=header()))
rec = body.membershipRecordSet.membershipRecord
if len(rec) != 1 or rec[0].sourcedGUID.sourcedId != "ZM" or rec[0].membership.member[0].role[0].roleType != "Learner":
    sys.exit("readMembershipsForPerson: %s" % body)
cms = client.bind("CourseManagementService", "CourseManagementPort")
status("replaceCourseSection", cms.replaceCourseSection(sourcedId="ZS", courseSectionRecord={"sourcedGUID": {"sourcedId": "ZS"}, "courseSection": {
    "label": t("Zeep 1"), "academicSession": t("ZG")}}, _soapheaders=header()))
status("replaceSectionAssociation", cms.replaceSectionAssociation(sourcedId="ZX", sectionAssociationRecord={"sourcedGUID": {"sourcedId": "ZX"},
    "type": "meta", "sectionAssociation": {"label": t("Zeep cross-list"), "courseSectionIdList": {"courseSectionId": ["ZS"]}}}, _soapheaders=header()))
body = status("readSectionAssociation", cms.readSectionAssociation(sourcedId="ZX", _soapheaders=header()))
sa = body.sectionAssociationRecord
if sa.type != "meta" or sa.sectionAssociation.courseSectionIdList.courseSectionId != ["ZS"]:
    sys.exit("readSectionAssociation: %s" % body)
status("deletePerson", pms.deletePerson(sourcedId="Z1", _soapheaders=header()))
status("readPerson of a deleted person", pms.readPerson(sourcedId="Z1", _soapheaders=header()), "failure")
print("zeep: all calls answered as expected")
