"""Channel inventory of recorders: parsers on recorders' real replies, flows driven without sockets.

Sources of the reply bytes (element names, values and layout as published; addresses and
serials as the fixtures anonymised them):
- ISAPI InputProxy channels of a DS-7608NXI-I2/8P/S NVR and VideoInputChannelList of an
  iDS-7204HUHI-M1/E DVR: maciej-or/hikvision_next tests/fixtures/devices/DS-7608NXI-I2.json
  and iDS-7204HUHI-M1.json (its JSON holds each reply as xmltodict read it; rewritten here as
  the XML it came from, element for element).
- InputProxyChannelStatusList with <online> and <chanDetectResult>: the status replies in
  public ISAPI client tests (found through the code search; the same element names as
  Hikvision's ISAPI "InputProxyChannelStatus" schema).
- Dahua RemoteDevice and ChannelTitle tables of a DH-NVR4216-HDS2, and getSystemInfo of an
  NVR6XX-4KS2: public Dahua HTTP API client tests (captured from the recorders, anonymised).
- ONVIF GetVideoSources / GetProfiles: the ONVIF Media WSDL (ver10/media/wsdl) response shapes.
"""

from __future__ import annotations

import re

import pytest

from camscan.channels.flows import RecorderSession, dahua_flow, isapi_flow, onvif_flow
from camscan.channels.runner import connection_of, identify_channel, channel_observations, recorder_api
from camscan.checks.flows import RequestBudget
from camscan.credentials import Account
from camscan.fingerprint.identify import Identifier
from camscan.model import Channel, Device, Identification
from camscan.protocols import ProtocolError, dahua_http, isapi, onvif
from netaddr import IPSet

NVR_IP_CHANNELS = b"""<?xml version="1.0" encoding="UTF-8"?>
<InputProxyChannelList version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema" size="4">
<InputProxyChannel>
<id>1</id>
<name>garden</name>
<sourceInputPortDescriptor>
<proxyProtocol>HIKVISION</proxyProtocol>
<addressingFormatType>ipaddress</addressingFormatType>
<ipAddress>1.0.0.236</ipAddress>
<managePortNo>8000</managePortNo>
<srcInputPort>1</srcInputPort>
<userName>admin</userName>
<connMode>plugplay</connMode>
<streamType>auto</streamType>
<model>DS-2CD2386G2-IU</model>
<serialNumber>DS-2CD2386G2-IU00000000AAWRK00000001</serialNumber>
<firmwareVersion>V5.7.15 build 240201</firmwareVersion>
<deviceID></deviceID>
</sourceInputPortDescriptor>
<certificateValidationEnabled>false</certificateValidationEnabled>
<defaultAdminPortEnabled>true</defaultAdminPortEnabled>
<enableAnr>false</enableAnr>
<enableTiming>true</enableTiming>
<devIndex>99547530-e306-4229-97b3-a437defc006d</devIndex>
</InputProxyChannel>
<InputProxyChannel>
<id>3</id>
<name>road</name>
<sourceInputPortDescriptor>
<proxyProtocol>HIKVISION</proxyProtocol>
<addressingFormatType>ipaddress</addressingFormatType>
<ipAddress>1.0.0.80</ipAddress>
<managePortNo>8000</managePortNo>
<srcInputPort>1</srcInputPort>
<userName>admin</userName>
<connMode>plugplay</connMode>
<streamType>auto</streamType>
<model>IPC</model>
<serialNumber>0000000000000-0C0F000000DD</serialNumber>
<firmwareVersion>V6.26 build 150513</firmwareVersion>
<deviceID></deviceID>
</sourceInputPortDescriptor>
<enableAnr>true</enableAnr>
</InputProxyChannel>
<InputProxyChannel>
<id>4</id>
<name>gate</name>
<sourceInputPortDescriptor>
<proxyProtocol>HIKVISION</proxyProtocol>
<addressingFormatType>ipaddress</addressingFormatType>
<ipAddress>1.0.0.238</ipAddress>
<managePortNo>8000</managePortNo>
<srcInputPort>1</srcInputPort>
<userName>admin</userName>
<connMode>plugplay</connMode>
<streamType>auto</streamType>
<model></model>
<serialNumber></serialNumber>
<firmwareVersion></firmwareVersion>
<deviceID></deviceID>
</sourceInputPortDescriptor>
<enableTiming>true</enableTiming>
</InputProxyChannel>
</InputProxyChannelList>
"""

IP_CHANNEL_STATUS = b"""<?xml version="1.0" encoding="UTF-8"?>
<InputProxyChannelStatusList xmlns="http://www.hikvision.com/ver20/XMLSchema">
<InputProxyChannelStatus><id>1</id><online>true</online><chanDetectResult>connect</chanDetectResult>
</InputProxyChannelStatus>
<InputProxyChannelStatus><id>3</id><online>true</online><chanDetectResult>connect</chanDetectResult>
</InputProxyChannelStatus>
<InputProxyChannelStatus><id>4</id><online>false</online><chanDetectResult>offline</chanDetectResult>
</InputProxyChannelStatus>
</InputProxyChannelStatusList>
"""

DVR_VIDEO_INPUTS = b"""<?xml version="1.0" encoding="UTF-8" ?>
<VideoInputChannelList version="1.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<VideoInputChannel version="1.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<id>1</id>
<inputPort>1</inputPort>
<videoInputEnabled>true</videoInputEnabled>
<name>Entrada</name>
<videoFormat>PAL</videoFormat>
<resDesc>2560*1440(4MP)P30</resDesc>
</VideoInputChannel>
<VideoInputChannel version="1.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<id>2</id>
<inputPort>2</inputPort>
<videoInputEnabled>true</videoInputEnabled>
<name>Camera 02</name>
<videoFormat>PAL</videoFormat>
<resDesc>NO VIDEO</resDesc>
</VideoInputChannel>
<VideoInputChannel version="1.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<id>3</id>
<inputPort>3</inputPort>
<videoInputEnabled>true</videoInputEnabled>
<name>Terraza - Taller</name>
<videoFormat>PAL</videoFormat>
<resDesc>2560*1440(4MP)P25</resDesc>
</VideoInputChannel>
<VideoInputChannel version="1.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<id>4</id>
<inputPort>4</inputPort>
<videoInputEnabled>true</videoInputEnabled>
<name>Camera 04</name>
<videoFormat>PAL</videoFormat>
<resDesc>NO VIDEO</resDesc>
</VideoInputChannel>
</VideoInputChannelList>
"""

DVR_NO_IP_CHANNELS = (b'<?xml version="1.0" encoding="UTF-8" ?>\n<InputProxyChannelList version="1.0" '
                      b'xmlns="http://www.hikvision.com/ver20/XMLSchema" size="2">\n</InputProxyChannelList>\n')

DVR_DEVICE_INFO = b"""<?xml version="1.0" encoding="UTF-8" ?>
<DeviceInfo version="1.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<deviceName>Embedded Net DVR</deviceName>
<model>iDS-7204HUHI-M1/E</model>
<firmwareVersion>V4.75.011</firmwareVersion>
<firmwareReleasedDate>build 240625</firmwareReleasedDate>
<deviceType>DVR</deviceType>
<manufacturer>hikvision</manufacturer>
</DeviceInfo>
"""

DAHUA_REMOTE_DEVICES = """table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Name=<camera1>
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Enable=true
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Address=198.19.2.13
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Mac=08:ed:ed:28:8f:97
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Port=37777
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.HttpPort=80
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.UserName=admin
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Password=cam-secret-1
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Vendor=Private
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.ProtocolType=Dahua2
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.DeviceType=IPC-HDW1025C
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.SerialNo=<serial1>
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Name=
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Enable=false
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Address=198.19.0.0
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.DeviceType=DH-IPC-HDW1235C-A-V7
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_2.Enable=false
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_2.Address=198.19.0.0
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_15.Enable=false
table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_15.Address=198.19.0.0
""".replace("\n", "\r\n").encode()

DAHUA_TITLES = (b"table.ChannelTitle[0].Name=IPC\r\ntable.ChannelTitle[1].Name=Front desk\r\n"
                b"table.ChannelTitle[15].Name=Gate\r\n")
DAHUA_SYSTEM_INFO = b"serialNumber=4C0048DPAJ8F3C9\r\ndeviceType=31\r\nprocessor=ST7108\r\nupdateSerial=NVR6XX-4KS2\r\n"

ONVIF_VIDEO_SOURCES = b"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:trt="http://www.onvif.org/ver10/media/wsdl"
 xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body><trt:GetVideoSourcesResponse>
<trt:VideoSources token="VideoSource_1"><tt:Framerate>25</tt:Framerate>
<tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution></trt:VideoSources>
<trt:VideoSources token="VideoSource_2"><tt:Framerate>25</tt:Framerate>
<tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution></trt:VideoSources>
</trt:GetVideoSourcesResponse></env:Body></env:Envelope>"""

ONVIF_PROFILES = b"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:trt="http://www.onvif.org/ver10/media/wsdl"
 xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body><trt:GetProfilesResponse>
<trt:Profiles token="Profile_1" fixed="true"><tt:Name>mainStream</tt:Name>
<tt:VideoSourceConfiguration token="VideoSourceToken"><tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>2</tt:UseCount>
<tt:SourceToken>VideoSource_1</tt:SourceToken><tt:Bounds x="0" y="0" width="1920" height="1080"/>
</tt:VideoSourceConfiguration>
</trt:Profiles>
<trt:Profiles token="Profile_3" fixed="true"><tt:Name>mainStream</tt:Name>
<tt:VideoSourceConfiguration token="VideoSourceToken3"><tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>1</tt:UseCount>
<tt:SourceToken>VideoSource_3</tt:SourceToken><tt:Bounds x="0" y="0" width="1920" height="1080"/>
</tt:VideoSourceConfiguration>
</trt:Profiles>
</trt:GetProfilesResponse></env:Body></env:Envelope>"""

ONVIF_CAPABILITIES = b"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"
 xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body><tds:GetCapabilitiesResponse><tds:Capabilities>
<tt:Media><tt:XAddr>http://198.18.40.10/onvif/Media</tt:XAddr></tt:Media>
</tds:Capabilities></tds:GetCapabilitiesResponse></env:Body></env:Envelope>"""


# A GetServicesResponse as devicemgmt.wsdl defines it (tds:Service: Namespace, XAddr, Version),
# IncludeCapability false so no tds:Capabilities; namespaces as ONVIF Core s8.1.2.1 and the
# Media2 Service Specification name the services.
ONVIF_SERVICES = b"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"
 xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body><tds:GetServicesResponse>
<tds:Service><tds:Namespace>http://www.onvif.org/ver10/device/wsdl</tds:Namespace>
<tds:XAddr>http://198.18.40.10/onvif/device_service</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor>
</tds:Version></tds:Service>
<tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace>
<tds:XAddr>http://198.18.40.10/onvif/Media</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor>
</tds:Version></tds:Service>
<tds:Service><tds:Namespace>http://www.onvif.org/ver20/media/wsdl</tds:Namespace>
<tds:XAddr>http://198.18.40.10/onvif/Media2</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor>
</tds:Version></tds:Service>
</tds:GetServicesResponse></env:Body></env:Envelope>"""
ONVIF_SERVICES_WITHOUT_MEDIA2 = re.sub(rb"<tds:Service><tds:Namespace>http://www.onvif.org/ver20/media/wsdl.*?</tds:Service>",
                                       b"", ONVIF_SERVICES, flags=re.S)

# Media2 answers as roleoroleo/onvif_simple_server's media2_service_files templates give them
# (GetProfiles_header.xml + GetProfiles_VSC.xml, GetVideoSourceConfigurations.xml), placeholders
# filled in, for a two-sensor device: tr2:Profiles/tr2:Configurations/tr2:VideoSource and
# tr2:Configurations, both tt:VideoSourceConfiguration with a tt:SourceToken (media2.wsdl).
MEDIA2_ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"
                   xmlns:tr2="http://www.onvif.org/ver20/media/wsdl"
                   xmlns:tt="http://www.onvif.org/ver10/schema">
    <SOAP-ENV:Body>
{body}
    </SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"""
MEDIA2_VIDEO_SOURCE_CONFIGURATION = """<tr2:{element} ViewMode="Original" token="{token}">
    <tt:Name>VideoSourceConfig</tt:Name>
    <tt:UseCount>{use_count}</tt:UseCount>
    <tt:SourceToken>{source}</tt:SourceToken>
    <tt:Bounds x="0" y="0" width="1920" height="1080"/>
</tr2:{element}>"""
MEDIA2_PROFILES = MEDIA2_ENVELOPE.format(body="""<tr2:GetProfilesResponse>
    <tr2:Profiles token="Profile_0"
                  fixed="true">
        <tr2:Name>Profile_0</tr2:Name>
        <tr2:Configurations>
""" + MEDIA2_VIDEO_SOURCE_CONFIGURATION.format(element="VideoSource", token="VideoSourceConfigToken", use_count=2,
                                               source="VideoSourceToken") + """
        </tr2:Configurations>
    </tr2:Profiles>
</tr2:GetProfilesResponse>""").encode()
MEDIA2_VIDEO_SOURCE_CONFIGURATIONS = MEDIA2_ENVELOPE.format(
    body="<tr2:GetVideoSourceConfigurationsResponse>"
         + MEDIA2_VIDEO_SOURCE_CONFIGURATION.format(element="Configurations", token="VideoSourceConfigToken",
                                                    use_count=2, source="VideoSourceToken")
         + MEDIA2_VIDEO_SOURCE_CONFIGURATION.format(element="Configurations", token="VideoSourceConfigToken2",
                                                    use_count=0, source="VideoSourceToken2")
         + "</tr2:GetVideoSourceConfigurationsResponse>").encode()

# ONVIF Core s5.11.2.2 (Receiver / ActionNotSupported): a device that does not implement an operation.
ACTION_NOT_SUPPORTED = b"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">
<env:Body><env:Fault><env:Code><env:Value>env:Receiver</env:Value><env:Subcode><env:Value>ter:ActionNotSupported</env:Value>
</env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">Optional Action Not Implemented</env:Text></env:Reason>
</env:Fault></env:Body></env:Envelope>"""


def http_reply(status: str, body: bytes = b"", headers: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\n{headers}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


DIGEST_401 = http_reply("401 Unauthorized", b"", 'WWW-Authenticate: Digest realm="DS-7608NXI", qop="auth", '
                                                 'nonce="4e5451794e7a59354e4463364d6a41344d546b314d44553d"\r\n')


def account(service: str = "http") -> Account:
    return Account(number=1, service=service, targets=("198.18.40.0/24",), addresses=IPSet(["198.18.40.0/24"]),
                   username="inventory", password="s3cret-pass")


def drive(flow, replies):
    """Run a flow against canned replies (by request path); returns (requests sent, result)."""
    sent = []
    try:
        exchange = next(flow)
        while True:
            sent.append(exchange)
            path = exchange.payload.split(b" ")[1].decode()
            reply = replies[path]
            if isinstance(reply, list):
                reply = reply.pop(0)
            exchange = flow.send(reply)
    except StopIteration as finished:
        return sent, finished.value


def session(credential: Account | None = None, budget: int = 16) -> RecorderSession:
    return RecorderSession("198.18.40.10", 80, False, credential, "0a4f113b", RequestBudget(budget))


class TestIsapiParsers:
    def test_ip_channels_carry_address_model_and_firmware(self):
        channels = isapi.parse_ip_channels(NVR_IP_CHANNELS)
        assert [c.number for c in channels] == [1, 3, 4]
        first = channels[0]
        assert (first.connection, first.address, first.port, first.protocol) == ("ip", "1.0.0.236", 8000, "HIKVISION")
        assert (first.model, first.firmware) == ("DS-2CD2386G2-IU", "V5.7.15 build 240201")
        assert first.serial == "DS-2CD2386G2-IU00000000AAWRK00000001"
        assert channels[2].model is None and channels[2].address == "1.0.0.238"

    def test_the_cameras_login_name_is_not_read(self):
        assert all("admin" not in repr(channel) for channel in isapi.parse_ip_channels(NVR_IP_CHANNELS))

    def test_status_says_which_channels_are_online(self):
        assert isapi.parse_ip_channel_status(IP_CHANNEL_STATUS) == {1: True, 3: True, 4: False}

    def test_analog_inputs_without_signal_say_no_video(self):
        channels = isapi.parse_analog_channels(DVR_VIDEO_INPUTS)
        assert [(c.number, c.connection, c.video, c.name) for c in channels] == [
            (1, "analog", "present", "Entrada"), (2, "analog", "no-video", "Camera 02"),
            (3, "analog", "present", "Terraza - Taller"), (4, "analog", "no-video", "Camera 04")]

    def test_an_empty_list_is_no_channel(self):
        assert isapi.parse_ip_channels(DVR_NO_IP_CHANNELS) == []

    def test_another_document_is_refused(self):
        with pytest.raises(ProtocolError):
            isapi.parse_ip_channels(DVR_VIDEO_INPUTS)

    def test_device_info(self):
        assert isapi.parse_device_info(DVR_DEVICE_INFO)["deviceType"] == "DVR"


class TestDahuaParsers:
    def test_remote_devices_are_the_enabled_slots_with_an_address(self):
        channels = dahua_http.parse_remote_devices(DAHUA_REMOTE_DEVICES)
        assert len(channels) == 1
        camera = channels[0]
        assert (camera.number, camera.address, camera.port, camera.model) == (1, "198.19.2.13", 37777, "IPC-HDW1025C")
        assert (camera.mac, camera.manufacturer, camera.protocol) == ("08:ed:ed:28:8f:97", "Private", "Dahua2")

    def test_the_recorders_password_for_the_camera_is_never_kept(self):
        assert "cam-secret-1" not in repr(dahua_http.parse_remote_devices(DAHUA_REMOTE_DEVICES))

    def test_titles_are_one_based(self):
        assert dahua_http.parse_channel_titles(DAHUA_TITLES) == {1: "IPC", 2: "Front desk", 16: "Gate"}

    def test_cameras_the_recorder_cannot_reach(self):
        # LogicDeviceManager getCameraState: 0-based channels, Connected or Unconnect.
        body = (b"states[0].channel=0\r\nstates[0].connectionState=Connected\r\n"
                b"states[1].channel=1\r\nstates[1].connectionState=Unconnect\r\n")
        assert dahua_http.parse_unconnected_cameras(body) == {2}
        assert dahua_http.parse_unconnected_cameras(b"Error\r\nBad Request!\r\n") == set()

    def test_video_loss_and_input_count(self):
        assert dahua_http.parse_video_loss(b"channels[0]=0\r\nchannels[1]=2\r\n") == {1, 3}
        assert dahua_http.parse_video_input_count(b"result=4\r\n") == 4
        assert dahua_http.parse_video_input_count(b"Error\r\nBad Request!\r\n") is None

    def test_system_info_model(self):
        assert dahua_http.parse_device_type(DAHUA_SYSTEM_INFO) == "31"
        assert dahua_http.parse_device_type(b"type=DH-NVR4216-HDS2\r\n") == "DH-NVR4216-HDS2"


class TestOnvifMediaParsers:
    def test_video_sources_and_profile_sources(self):
        assert onvif.video_source_tokens(ONVIF_VIDEO_SOURCES) == ["VideoSource_1", "VideoSource_2"]
        assert onvif.profile_source_tokens(ONVIF_PROFILES) == ["VideoSource_1", "VideoSource_3"]

    def test_services_by_namespace(self):
        assert onvif.service_xaddrs(ONVIF_SERVICES) == {
            "http://www.onvif.org/ver10/device/wsdl": "http://198.18.40.10/onvif/device_service",
            onvif.MEDIA_NAMESPACE: "http://198.18.40.10/onvif/Media",
            onvif.MEDIA2_NAMESPACE: "http://198.18.40.10/onvif/Media2"}
        assert onvif.service_xaddrs(ONVIF_CAPABILITIES) == {}

    def test_media2_profiles_and_video_source_configurations(self):
        assert onvif.profile_source_tokens(MEDIA2_PROFILES) == ["VideoSourceToken"]
        assert onvif.video_source_configuration_tokens(MEDIA2_VIDEO_SOURCE_CONFIGURATIONS) == [
            "VideoSourceToken", "VideoSourceToken2"]

    def test_a_fault_holds_no_service_nor_source(self):
        assert onvif.service_xaddrs(ACTION_NOT_SUPPORTED) == {}
        assert onvif.video_source_configuration_tokens(ACTION_NOT_SUPPORTED) == []


class TestIsapiFlow:
    def replies(self):
        return {
            isapi.DEVICE_INFO_PATH: http_reply("200 OK", DVR_DEVICE_INFO),
            isapi.IP_CHANNELS_PATH: http_reply("200 OK", NVR_IP_CHANNELS),
            isapi.IP_CHANNEL_STATUS_PATH: http_reply("200 OK", IP_CHANNEL_STATUS),
            isapi.ANALOG_CHANNELS_PATH: http_reply("403 Forbidden"),
        }

    def test_anonymous_nvr_inventory_marks_the_offline_channel(self):
        sent, inventory = drive(isapi_flow(session()), self.replies())
        assert inventory.status == "enumerated" and inventory.api == "isapi"
        assert [(c.number, c.video) for c in inventory.channels] == [(1, "present"), (3, "present"), (4, "offline")]
        assert len(sent) == 4 and not any(exchange.credentials for exchange in sent)

    def test_refused_without_an_account_needs_credentials(self):
        replies = {path: DIGEST_401 for path in self.replies()}
        sent, inventory = drive(isapi_flow(session()), replies)
        assert inventory.status == "credentials-needed" and inventory.channels == ()
        assert len(sent) == 1  # refused at once: nothing more is asked, never with a login

    def test_digest_login_is_sent_on_its_own_connection_and_then_preemptively(self):
        replies = self.replies()
        replies[isapi.DEVICE_INFO_PATH] = [DIGEST_401, http_reply("200 OK", DVR_DEVICE_INFO)]
        sent, inventory = drive(isapi_flow(session(account())), replies)
        assert inventory.status == "enumerated" and len(inventory.channels) == 3
        assert [bool(exchange.credentials) for exchange in sent] == [False, True, True, True, True]
        for exchange in sent[1:]:
            start, end = exchange.credentials[0]
            assert exchange.payload[start:end].startswith(b"Digest username=\"inventory\"")
            assert b"s3cret-pass" not in exchange.payload

    def test_a_refused_account_is_not_tried_again(self):
        replies = {path: DIGEST_401 for path in self.replies()}
        sent, inventory = drive(isapi_flow(session(account())), replies)
        assert inventory.status == "credentials-needed"
        assert [bool(exchange.credentials) for exchange in sent] == [False, True]

    def test_a_lockout_sign_stops_every_request(self):
        replies = self.replies()
        replies[isapi.DEVICE_INFO_PATH] = [DIGEST_401, http_reply("401 Unauthorized", b"user locked")]
        sent, inventory = drive(isapi_flow(session(account())), replies)
        assert inventory.status == "credentials-needed" and len(sent) == 2

    def test_a_camera_named_locked_is_no_lockout_sign(self):
        replies = self.replies()
        replies[isapi.IP_CHANNELS_PATH] = http_reply("200 OK", NVR_IP_CHANNELS.replace(b"garden", b"Locked gate"))
        sent, inventory = drive(isapi_flow(session()), replies)
        assert inventory.channels[0].name == "Locked gate" and len(sent) == 4

    def test_the_budget_bounds_the_requests(self):
        sent, inventory = drive(isapi_flow(session(budget=2)), self.replies())
        assert len(sent) == 2 and inventory.status == "enumerated"

    def test_dvr_analog_inputs(self):
        replies = self.replies()
        replies[isapi.IP_CHANNELS_PATH] = http_reply("200 OK", DVR_NO_IP_CHANNELS)
        replies[isapi.ANALOG_CHANNELS_PATH] = http_reply("200 OK", DVR_VIDEO_INPUTS)
        sent, inventory = drive(isapi_flow(session()), replies)
        assert [(c.number, c.connection, c.video) for c in inventory.channels] == [
            (1, "analog", "present"), (2, "analog", "no-video"), (3, "analog", "present"), (4, "analog", "no-video")]
        assert isapi.IP_CHANNEL_STATUS_PATH not in b"".join(exchange.payload for exchange in sent).decode()

    def test_a_hybrid_dvr_numbers_its_ip_channels_after_its_analog_inputs(self):
        replies = self.replies()
        replies[isapi.ANALOG_CHANNELS_PATH] = http_reply("200 OK", DVR_VIDEO_INPUTS)
        _, inventory = drive(isapi_flow(session()), replies)
        assert [(c.number, c.connection) for c in inventory.channels] == [
            (1, "analog"), (2, "analog"), (3, "analog"), (4, "analog"), (5, "ip"), (7, "ip"), (8, "ip")]

    def test_not_isapi_is_not_asked_further(self):
        sent, inventory = drive(isapi_flow(session()), {isapi.DEVICE_INFO_PATH: http_reply("404 Not Found")})
        assert inventory.status == "not-asked" and len(sent) == 1


class TestDahuaFlow:
    def replies(self):
        return {
            dahua_http.SYSTEM_INFO_PATH: http_reply("200 OK", DAHUA_SYSTEM_INFO),
            dahua_http.REMOTE_DEVICES_PATH: http_reply("200 OK", DAHUA_REMOTE_DEVICES),
            dahua_http.VIDEO_INPUTS_PATH: http_reply("200 OK", b"result=4\r\n"),
            dahua_http.CHANNEL_TITLES_PATH: http_reply("200 OK", DAHUA_TITLES),
            dahua_http.VIDEO_LOSS_PATH: http_reply("200 OK", b"channels[0]=0\r\nchannels[1]=2\r\n"),
            dahua_http.CAMERA_STATE_PATH: http_reply("200 OK", b"states[0].channel=0\r\n"
                                                               b"states[0].connectionState=Connected\r\n"),
        }

    def test_xvr_has_analog_inputs_beside_its_ip_camera(self):
        _, inventory = drive(dahua_flow(session(), analog_inputs=True), self.replies())
        assert [(c.number, c.connection, c.video, c.name) for c in inventory.channels] == [
            (1, "ip", "offline", "<camera1>"), (2, "analog", "present", "Front desk"),
            (3, "analog", "no-video", None), (4, "analog", "present", None)]

    def test_the_remote_device_table_is_kept_out_of_a_recording(self):
        sent, _ = drive(dahua_flow(session(), analog_inputs=True), self.replies())
        secret = [exchange.secret_reply for exchange in sent]
        assert secret == [dahua_http.REMOTE_DEVICES_PATH.encode() in exchange.payload for exchange in sent]
        assert secret.count(True) == 1 and all(exchange.concealed == exchange.secret_reply for exchange in sent)

    def test_an_ip_camera_the_recorder_cannot_reach_is_offline(self):
        replies = {**self.replies(), dahua_http.VIDEO_LOSS_PATH: http_reply("200 OK", b""),
                   dahua_http.CAMERA_STATE_PATH: http_reply("200 OK", b"states[0].channel=0\r\n"
                                                                      b"states[0].connectionState=Unconnect\r\n")}
        _, inventory = drive(dahua_flow(session(), analog_inputs=False), replies)
        assert [(c.number, c.connection, c.video) for c in inventory.channels] == [(1, "ip", "offline")]

    def test_nvr_is_not_asked_for_analog_inputs(self):
        sent, inventory = drive(dahua_flow(session(), analog_inputs=False), self.replies())
        assert [c.number for c in inventory.channels] == [1]
        assert all(dahua_http.VIDEO_INPUTS_PATH.encode() not in exchange.payload for exchange in sent)


NOT_AUTHORIZED = b"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">
<env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value>
</env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason>
</env:Fault></env:Body></env:Envelope>"""


@pytest.fixture(scope="module")
def messages():
    """ONVIF's message layer (onvif-zeep-async), loaded anonymously and for the test account."""
    import asyncio

    from camscan.probes.onvif import DEVICE_SERVICE, MEDIA_SERVICE, OnvifMessages

    loaded, signer = OnvifMessages(), account("onvif")

    async def load() -> None:
        for who in (None, signer):
            for service in (DEVICE_SERVICE, MEDIA_SERVICE):
                await loaded.load(who, service)

    asyncio.run(load())
    return loaded, signer


class TestOnvifFlow:
    def replies(self, services: bytes = ONVIF_SERVICES_WITHOUT_MEDIA2):
        return {onvif.DEVICE_SERVICE_PATH: [http_reply("200 OK", services)],
                "/onvif/Media": [http_reply("200 OK", ONVIF_VIDEO_SOURCES), http_reply("200 OK", ONVIF_PROFILES)],
                "/onvif/Media2": [http_reply("200 OK", MEDIA2_PROFILES),
                                  http_reply("200 OK", MEDIA2_VIDEO_SOURCE_CONFIGURATIONS)]}

    @staticmethod
    def onvif_session(messages, signer=None) -> RecorderSession:
        return RecorderSession("198.18.40.10", 80, False, signer, "0a4f113b", RequestBudget(16), messages=messages)

    @staticmethod
    def operations(sent) -> list[str]:
        return [re.search(rb"<(?:\w+:)?(Get\w+)", exchange.payload.split(b"Body>", 1)[1]).group(1).decode()
                for exchange in sent]

    def test_each_media_video_source_is_a_channel(self, messages):
        sent, inventory = drive(onvif_flow(self.onvif_session(messages[0]), "198.18.40.10", 80, False),
                                self.replies())
        assert [(c.number, c.connection, c.name) for c in inventory.channels] == [
            (1, None, "VideoSource_1"), (2, None, "VideoSource_2"), (3, None, "VideoSource_3")]
        assert self.operations(sent) == ["GetServices", "GetVideoSources", "GetProfiles"]
        assert b"<ns0:IncludeCapability>false</ns0:IncludeCapability>" in sent[0].payload
        assert not any(exchange.credentials for exchange in sent)

    def test_a_device_without_get_services_is_asked_get_capabilities(self, messages):
        replies = self.replies()
        replies[onvif.DEVICE_SERVICE_PATH] = [http_reply("500 Internal Server Error", ACTION_NOT_SUPPORTED),
                                              http_reply("200 OK", ONVIF_CAPABILITIES)]
        sent, inventory = drive(onvif_flow(self.onvif_session(messages[0]), "198.18.40.10", 80, False), replies)
        assert self.operations(sent) == ["GetServices", "GetCapabilities", "GetVideoSources", "GetProfiles"]
        assert len(inventory.channels) == 3

    def test_media2_is_asked_where_offered(self, messages):
        sent, inventory = drive(onvif_flow(self.onvif_session(messages[0]), "198.18.40.10", 80, False),
                                self.replies(ONVIF_SERVICES))
        assert self.operations(sent) == ["GetServices", "GetProfiles", "GetVideoSourceConfigurations"]
        assert [exchange.payload.split(b" ")[1] for exchange in sent[1:]] == [b"/onvif/Media2"] * 2
        assert b'action="http://www.onvif.org/ver20/media/wsdl/GetProfiles"' in sent[1].payload
        assert b"<Type>VideoSource</Type>" in sent[1].payload
        assert [(c.number, c.name) for c in inventory.channels] == [(1, "VideoSourceToken"), (2, "VideoSourceToken2")]

    def test_media_is_asked_when_media2_reads_nothing(self, messages):
        replies = self.replies(ONVIF_SERVICES)
        replies["/onvif/Media2"] = [http_reply("500 Internal Server Error", ACTION_NOT_SUPPORTED)] * 2
        sent, inventory = drive(onvif_flow(self.onvif_session(messages[0]), "198.18.40.10", 80, False), replies)
        assert self.operations(sent) == ["GetServices", "GetProfiles", "GetVideoSourceConfigurations",
                                         "GetVideoSources", "GetProfiles"]
        assert len(inventory.channels) == 3

    def test_media2_not_authorized_is_asked_again_with_a_usernametoken(self, messages):
        loaded, signer = messages
        replies = self.replies(ONVIF_SERVICES)
        replies["/onvif/Media2"].insert(0, http_reply("400 Bad Request", NOT_AUTHORIZED))
        sent, inventory = drive(onvif_flow(self.onvif_session(loaded, signer), "198.18.40.10", 80, False), replies)
        assert inventory.status == "enumerated" and len(inventory.channels) == 2
        assert [bool(exchange.credentials) for exchange in sent] == [False, False, True, True]
        for exchange in sent[2:]:
            assert b"PasswordDigest" in exchange.payload and b"s3cret-pass" not in exchange.payload
            assert all(exchange.payload[start:end] != b"" for start, end in exchange.credentials)
            assert b"inventory" in b"".join(exchange.payload[start:end] for start, end in exchange.credentials)

    def test_media2_elsewhere_is_not_followed(self, messages):
        elsewhere = ONVIF_SERVICES.replace(b"198.18.40.10/onvif/Media2", b"198.18.40.10:8899/onvif/Media2")
        sent, inventory = drive(onvif_flow(self.onvif_session(messages[0]), "198.18.40.10", 80, False),
                                self.replies(elsewhere))
        assert self.operations(sent) == ["GetServices", "GetVideoSources", "GetProfiles"]

    def test_not_authorized_is_asked_again_with_a_usernametoken(self, messages):
        loaded, signer = messages
        replies = self.replies()
        replies[onvif.DEVICE_SERVICE_PATH].insert(0, http_reply("400 Bad Request", NOT_AUTHORIZED))
        sent, inventory = drive(onvif_flow(self.onvif_session(loaded, signer), "198.18.40.10", 80, False),
                                replies)
        assert inventory.status == "enumerated" and len(inventory.channels) == 3
        assert [bool(exchange.credentials) for exchange in sent] == [False, True, True, True]
        assert all(b"UsernameToken" in exchange.payload and b"s3cret-pass" not in exchange.payload
                   for exchange in sent[1:])

    def test_refused_without_an_account_needs_credentials(self, messages):
        sent, inventory = drive(onvif_flow(self.onvif_session(messages[0]), "198.18.40.10", 80, False),
                                {onvif.DEVICE_SERVICE_PATH: [http_reply("400 Bad Request", NOT_AUTHORIZED)]})
        assert inventory.status == "credentials-needed" and len(sent) == 1

    def test_a_refused_account_is_not_offered_again(self, messages):
        loaded, signer = messages
        refusal = http_reply("400 Bad Request", NOT_AUTHORIZED)
        sent, inventory = drive(onvif_flow(self.onvif_session(loaded, signer), "198.18.40.10", 80, False),
                                {onvif.DEVICE_SERVICE_PATH: [refusal, refusal]})
        assert inventory.status == "credentials-needed"
        assert [bool(exchange.credentials) for exchange in sent] == [False, True]

    def test_a_media_service_elsewhere_is_not_followed(self, messages):
        elsewhere = ONVIF_SERVICES.replace(b"198.18.40.10", b"198.18.40.99")
        sent, inventory = drive(onvif_flow(self.onvif_session(messages[0]), "198.18.40.10", 80, False),
                                {onvif.DEVICE_SERVICE_PATH: [http_reply("200 OK", elsewhere)]})
        assert len(sent) == 1 and inventory.status == "not-asked"


class TestChannelsAsDevices:
    def test_connection_follows_the_scanned_networks(self):
        scanned = IPSet(["198.18.40.0/24"])
        assert connection_of(Channel(1, "ip", "present", address="198.18.40.21"), lambda ip: ip in scanned) == "ip-lan"
        assert connection_of(Channel(1, "ip", "present", address="198.19.254.2"), lambda ip: ip in scanned) == "ip-poe"
        assert connection_of(Channel(1, "ip", "present"), lambda ip: True) == "ip-poe"
        assert connection_of(Channel(1, "analog", "present"), lambda ip: True) == "analog"

    def test_an_ip_cameras_model_names_its_maker(self):
        channel = isapi.parse_ip_channels(NVR_IP_CHANNELS)[0]
        seen = channel_observations("198.18.40.10", 80, "isapi", channel)
        ident = identify_channel(Identifier(), seen, Identification(manufacturer="hikvision", ndaa_889=True))
        assert (ident.manufacturer, ident.model, ident.device_type) == ("hikvision", "DS-2CD2386G2-IU", "ip-camera")
        assert ident.ndaa_889 is True

    def test_a_dahua_recorders_camera_model_names_its_maker(self):
        [camera] = dahua_http.parse_remote_devices(DAHUA_REMOTE_DEVICES)
        seen = [item for item in channel_observations("198.18.40.10", 80, "dahua-http", camera)
                if item.field != "channel.mac"]  # the model alone (its MAC's OUI would say Dahua too)
        ident = identify_channel(Identifier(), seen, Identification(manufacturer="dahua", ndaa_889=True))
        assert (ident.manufacturer, ident.model, ident.ndaa_889) == ("dahua", "IPC-HDW1025C", True)

    def test_an_analog_camera_of_unknown_make_is_behind_a_covered_recorder(self):
        recorder = Identification(manufacturer="hikvision", ndaa_889=True, ndaa_basis="manufacturer hikvision")
        ident = identify_channel(Identifier(), [], recorder)
        assert ident.ndaa_889 is None and "behind a covered recorder" in ident.ndaa_basis

    def test_the_api_follows_the_maker_and_its_oem_brands(self):
        maker_of = Identifier().catalogue.manufacturer_of

        def api(**identification) -> str:
            return recorder_api(Device("198.18.40.10", identification=Identification(**identification)), maker_of)

        assert api(vendor="lts", manufacturer="hikvision") == "isapi"
        assert api(vendor="amcrest") == "dahua-http"
        assert api(manufacturer="axis") == "onvif"


def test_an_onvif_xaddr_on_a_connect_only_port_is_passed_over_for_the_web_port():
    """A recorder naming its SDK port in its XAddr is asked on its web port: nothing but a bare
    connect ever goes to a connect-only port (and the scan does not stop on the guard's refusal)."""
    from camscan.channels.runner import onvif_port
    from camscan.model import Device, Observation

    def recorder(*xaddrs: str) -> Device:
        return Device(ip="198.18.40.10", observations=[
            Observation(ip="198.18.40.10", source="wsd", field="wsd.xaddr", value=" ".join(xaddrs))])

    assert onvif_port(recorder("http://198.18.40.10:37777/onvif/device_service"), (80, False)) == (80, False)
    assert onvif_port(recorder("http://198.18.40.10:37777/onvif/device_service",
                               "https://198.18.40.10:8443/onvif/device_service"), (80, False)) == (8443, True)
