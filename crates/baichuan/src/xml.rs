//! XML bodies: a bounded, lenient parser into a small element tree (quick-xml underneath), a
//! writer with the exact line layout cameras and clients use, and typed views of the bodies
//! this crate uses (Encryption, LoginUser, LoginNet, DeviceInfo, StreamInfoList, Preview,
//! BatteryList/BatteryInfo, AlarmEventList, WifiSignal, Extension).

use quick_xml::Reader;
use quick_xml::events::Event;

/// Largest XML document accepted (DeviceInfo replies are ~3 kB; ability lists tens of kB).
pub const MAX_XML_LEN: usize = 256 * 1024;
/// Deepest element nesting accepted.
pub const MAX_XML_DEPTH: usize = 32;
/// Most elements accepted in one document.
pub const MAX_XML_ELEMENTS: usize = 8192;

/// The XML declaration every BC body starts with.
pub const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n";

/// Errors of the XML layer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    /// Input longer than [`MAX_XML_LEN`].
    #[error("XML document of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Nesting deeper than [`MAX_XML_DEPTH`] or more than [`MAX_XML_ELEMENTS`] elements.
    #[error("XML document too deep or too many elements")]
    TooComplex,
    /// Not UTF-8.
    #[error("XML is not UTF-8")]
    NotUtf8,
    /// Syntax error reported by the parser.
    #[error("XML syntax: {0}")]
    Syntax(String),
    /// No root element.
    #[error("XML has no root element")]
    Empty,
}

/// One XML element: name, attributes, text content and child elements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Tag name.
    pub name: String,
    /// Attributes in document order.
    pub attrs: Vec<(String, String)>,
    /// Text content (concatenated pieces, leading/trailing whitespace trimmed).
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// An element with a name only.
    pub fn new(name: &str) -> Self {
        Element {
            name: name.to_owned(),
            ..Default::default()
        }
    }

    /// Builder: an element with `version="1.1"`.
    pub fn versioned(name: &str) -> Self {
        Element::new(name).attr("version", "1.1")
    }

    /// Builder: adds an attribute.
    pub fn attr(mut self, k: &str, v: &str) -> Self {
        self.attrs.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Builder: adds a child.
    pub fn child(mut self, c: Element) -> Self {
        self.children.push(c);
        self
    }

    /// Builder: adds a leaf child with text.
    pub fn leaf(self, name: &str, text: impl ToString) -> Self {
        let mut c = Element::new(name);
        c.text = text.to_string();
        self.child(c)
    }

    /// Builder: adds a leaf child if `text` is `Some`.
    pub fn leaf_opt<T: ToString>(self, name: &str, text: Option<T>) -> Self {
        match text {
            Some(t) => self.leaf(name, t),
            None => self,
        }
    }

    /// Attribute value by name.
    pub fn get_attr(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    /// First child with this name.
    pub fn get(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this name.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of the first child with this name.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.get(name).map(|c| c.text.as_str())
    }

    /// Text of the first child with this name, parsed.
    pub fn parse_of<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.text_of(name).and_then(|t| t.trim().parse().ok())
    }

    /// Text of a descendant reached by a path of child names.
    pub fn path_text(&self, path: &[&str]) -> Option<&str> {
        let mut cur = self;
        for p in path {
            cur = cur.get(p)?;
        }
        Some(cur.text.as_str())
    }
}

/// Parses a document into its root element. Leniency: declaration, comments, processing
/// instructions and DOCTYPE are ignored; text is trimmed; end-tag names are not checked
/// against start tags; a missing end tag at EOF closes the open elements.
pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
    if input.len() > MAX_XML_LEN {
        return Err(XmlError::TooLong {
            len: input.len(),
            max: MAX_XML_LEN,
        });
    }
    let text = std::str::from_utf8(input).map_err(|_| XmlError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    {
        let cfg = reader.config_mut();
        cfg.trim_text(false);
        cfg.check_end_names = false;
        cfg.allow_unmatched_ends = true;
    }
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let start_of = |e: &quick_xml::events::BytesStart<'_>| -> Result<Element, XmlError> {
        let name = e.name();
        let name: &str = name.as_ref();
        if !is_plain_name(name.as_bytes()) {
            return Err(XmlError::Syntax(format!(
                "element name {name:?} is not a plain name"
            )));
        }
        let mut el = Element::new(e.name().as_ref());
        for a in e.attributes().with_checks(false).flatten() {
            // Lenient reading accepts junk such as `"n="1"`; a key that is not a
            // plain name is dropped, so what we write back is well formed.
            if !is_plain_name(AsRef::<str>::as_ref(&a.key).as_bytes()) {
                continue;
            }
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| a.value.to_string());
            el.attrs.push((a.key.as_ref().to_owned(), v));
        }
        Ok(el)
    };
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| XmlError::Syntax(e.to_string()))?;
        match ev {
            Event::Start(e) => {
                count += 1;
                if count > MAX_XML_ELEMENTS || stack.len() >= MAX_XML_DEPTH {
                    return Err(XmlError::TooComplex);
                }
                stack.push(start_of(&e)?);
            }
            Event::Empty(e) => {
                count += 1;
                if count > MAX_XML_ELEMENTS {
                    return Err(XmlError::TooComplex);
                }
                let el = start_of(&e)?;
                close(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                if let Some(el) = stack.pop() {
                    close(&mut stack, &mut root, el);
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => Some(c),
                        _ => match &*r {
                            "amp" => Some('&'),
                            "lt" => Some('<'),
                            "gt" => Some('>'),
                            "quot" => Some('"'),
                            "apos" => Some('\''),
                            _ => None,
                        },
                    };
                    if let Some(c) = resolved {
                        top.text.push(c);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        if root.is_some() && stack.is_empty() {
            break;
        }
    }
    while let Some(el) = stack.pop() {
        close(&mut stack, &mut root, el);
    }
    root.ok_or(XmlError::Empty)
}

/// Letters, digits, `_`, `-`, `.` and `:`, not empty.
fn is_plain_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

fn close(stack: &mut [Element], root: &mut Option<Element>, mut el: Element) {
    let t = el.text.trim();
    if t.len() != el.text.len() {
        el.text = t.to_owned();
    }
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => {
            if root.is_none() {
                *root = Some(el);
            }
        }
    }
}

/// How a document is laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Emit [`XML_DECL`] first.
    pub declaration: bool,
    /// Spaces of indentation per nesting level (0 = every element on its own line, flush left,
    /// which is what clients send; some cameras indent by 4).
    pub indent: usize,
}

impl Layout {
    /// `<?xml …?>` then one element per line, no indentation.
    pub const BC: Layout = Layout {
        declaration: true,
        indent: 0,
    };
    /// As [`Layout::BC`] with 4-space indentation.
    pub const BC_INDENTED: Layout = Layout {
        declaration: true,
        indent: 4,
    };
    /// UDP discovery XML: no declaration, no indentation.
    pub const P2P: Layout = Layout {
        declaration: false,
        indent: 0,
    };
}

/// Escapes text and attribute values (`&`, `<`, `>`, `"`, `'`).
pub fn escape(s: &str, out: &mut String) {
    out.push_str(&quick_xml::escape::escape(s));
}

/// Serialises an element tree. Leaves are `<a>text</a>`; elements with children put each
/// child on its own line. Every line ends with `\n`.
pub fn write(root: &Element, layout: Layout) -> String {
    let mut out = String::new();
    if layout.declaration {
        out.push_str(XML_DECL);
    }
    write_el(root, layout.indent, 0, &mut out);
    out
}

fn write_el(el: &Element, indent: usize, depth: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent * depth));
    out.push('<');
    out.push_str(&el.name);
    for (k, v) in &el.attrs {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        escape(v, out);
        out.push('"');
    }
    out.push('>');
    if el.children.is_empty() {
        escape(&el.text, out);
    } else {
        out.push('\n');
        for c in &el.children {
            write_el(c, indent, depth + 1, out);
        }
        out.extend(std::iter::repeat_n(' ', indent * depth));
    }
    out.push_str("</");
    out.push_str(&el.name);
    out.push_str(">\n");
}

/// Wraps top-level items in `<body>` and writes them with the given layout.
pub fn write_body(items: Vec<Element>, layout: Layout) -> String {
    let mut body = Element::new("body");
    body.children = items;
    write(&body, layout)
}

/// `<Encryption>`: the nonce reply to the first login message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncryptionXml {
    /// `version` attribute.
    pub version: String,
    /// `type`, always "md5" so far.
    pub kind: String,
    /// The nonce.
    pub nonce: String,
}

impl EncryptionXml {
    /// From an `<Encryption>` element.
    pub fn from_element(e: &Element) -> Self {
        EncryptionXml {
            version: e.get_attr("version").unwrap_or_default().to_owned(),
            kind: e.text_of("type").unwrap_or_default().to_owned(),
            nonce: e.text_of("nonce").unwrap_or_default().to_owned(),
        }
    }
    /// To an element.
    pub fn to_element(&self) -> Element {
        Element::new("Encryption")
            .attr("version", &self.version)
            .leaf("type", &self.kind)
            .leaf("nonce", &self.nonce)
    }
}

/// `<LoginUser>`: hashed in login, plain text in logout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoginUser {
    /// userName (hash or plain).
    pub user_name: String,
    /// password (hash or plain).
    pub password: String,
    /// userVer, 1.
    pub user_ver: Option<u32>,
}

impl LoginUser {
    /// From a `<LoginUser>` element.
    pub fn from_element(e: &Element) -> Self {
        LoginUser {
            user_name: e.text_of("userName").unwrap_or_default().to_owned(),
            password: e.text_of("password").unwrap_or_default().to_owned(),
            user_ver: e.parse_of("userVer"),
        }
    }
    /// To an element.
    pub fn to_element(&self) -> Element {
        Element::versioned("LoginUser")
            .leaf("userName", &self.user_name)
            .leaf("password", &self.password)
            .leaf_opt("userVer", self.user_ver)
    }
}

/// `<LoginNet>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoginNet {
    /// "LAN".
    pub kind: String,
    /// 0.
    pub udp_port: u16,
}

impl LoginNet {
    /// From a `<LoginNet>` element.
    pub fn from_element(e: &Element) -> Self {
        LoginNet {
            kind: e.text_of("type").unwrap_or_default().to_owned(),
            udp_port: e.parse_of("udpPort").unwrap_or(0),
        }
    }
    /// To an element.
    pub fn to_element(&self) -> Element {
        Element::versioned("LoginNet")
            .leaf("type", &self.kind)
            .leaf("udpPort", self.udp_port)
    }
}

/// `<DeviceInfo>` (the login reply). Only commonly useful fields are typed; the element
/// itself is kept in [`BcXml::items`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceInfo {
    /// e.g. "ipc".
    pub kind: Option<String>,
    /// Channel count.
    pub channel_num: Option<u32>,
    /// Sensor resolution.
    pub resolution: Option<(u32, u32)>,
    /// softVer.
    pub soft_ver: Option<String>,
    /// firmVersion.
    pub firm_version: Option<String>,
    /// typeInfo.
    pub type_info: Option<String>,
}

impl DeviceInfo {
    /// From a `<DeviceInfo>` element.
    pub fn from_element(e: &Element) -> Self {
        let resolution = e
            .get("resolution")
            .and_then(|r| Some((r.parse_of::<u32>("width")?, r.parse_of::<u32>("height")?)));
        DeviceInfo {
            kind: e.text_of("type").map(str::to_owned),
            channel_num: e.parse_of("channelNum"),
            resolution,
            soft_ver: e.text_of("softVer").map(str::to_owned),
            firm_version: e.text_of("firmVersion").map(str::to_owned),
            type_info: e.text_of("typeInfo").map(str::to_owned),
        }
    }
    /// To an element (only the typed fields).
    pub fn to_element(&self) -> Element {
        let mut el = Element::versioned("DeviceInfo")
            .leaf_opt("firmVersion", self.firm_version.as_deref())
            .leaf_opt("type", self.kind.as_deref())
            .leaf_opt("channelNum", self.channel_num);
        if let Some((w, h)) = self.resolution {
            el = el.child(
                Element::new("resolution")
                    .leaf("resolutionName", format!("{w}*{h}"))
                    .leaf("width", w)
                    .leaf("height", h),
            );
        }
        el.leaf_opt("typeInfo", self.type_info.as_deref())
            .leaf_opt("softVer", self.soft_ver.as_deref())
    }
}

/// One `<encodeTable>` of a `<StreamInfo>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodeTable {
    /// mainStream / subStream / externStream.
    pub kind: String,
    /// Width × height.
    pub resolution: Option<(u32, u32)>,
    /// defaultFramerate.
    pub default_framerate: Option<u32>,
    /// defaultBitrate (kbit/s).
    pub default_bitrate: Option<u32>,
}

/// `<StreamInfoList>`: the encode tables per channel set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamInfoList {
    /// One entry per `<StreamInfo>`: (channelBits, encode tables).
    pub stream_infos: Vec<(Option<u32>, Vec<EncodeTable>)>,
}

impl StreamInfoList {
    /// From a `<StreamInfoList>` element.
    pub fn from_element(e: &Element) -> Self {
        let stream_infos = e
            .all("StreamInfo")
            .map(|si| {
                let tables = si
                    .all("encodeTable")
                    .map(|t| EncodeTable {
                        kind: t.text_of("type").unwrap_or_default().to_owned(),
                        resolution: t.get("resolution").and_then(|r| {
                            Some((r.parse_of::<u32>("width")?, r.parse_of::<u32>("height")?))
                        }),
                        default_framerate: t.parse_of("defaultFramerate"),
                        default_bitrate: t.parse_of("defaultBitrate"),
                    })
                    .collect();
                (si.parse_of("channelBits"), tables)
            })
            .collect();
        StreamInfoList { stream_infos }
    }
}

/// `<Preview>`: start (msg 3, with stream type) and stop (msg 4, without) video.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preview {
    /// Camera channel (0 for single cameras).
    pub channel_id: u8,
    /// Stream handle, unique per stream in a session (0 main, 256 sub, 1024 extern).
    pub handle: u32,
    /// mainStream / subStream / externStream; `None` for stop.
    pub stream_type: Option<String>,
}

impl Preview {
    /// From a `<Preview>` element.
    pub fn from_element(e: &Element) -> Self {
        Preview {
            channel_id: e.parse_of("channelId").unwrap_or(0),
            handle: e.parse_of("handle").unwrap_or(0),
            stream_type: e.text_of("streamType").map(str::to_owned),
        }
    }
    /// To an element.
    pub fn to_element(&self) -> Element {
        Element::versioned("Preview")
            .leaf("channelId", self.channel_id)
            .leaf("handle", self.handle)
            .leaf_opt("streamType", self.stream_type.as_deref())
    }
}

/// `<BatteryInfo>` (inside msg 252 `BatteryList` or alone in the msg 253 reply).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatteryInfo {
    /// Channel.
    pub channel_id: Option<u8>,
    /// chargeComplete / charging / none.
    pub charge_status: Option<String>,
    /// e.g. solarPanel, none.
    pub adapter_status: Option<String>,
    /// Millivolts.
    pub voltage_mv: Option<i32>,
    /// Milliamps (negative seen while charging).
    pub current_ma: Option<i32>,
    /// Degrees Celsius.
    pub temperature_c: Option<i32>,
    /// 0–100.
    pub battery_percent: Option<u32>,
    /// 0/1.
    pub low_power: Option<u32>,
    /// batteryVersion.
    pub battery_version: Option<u32>,
    /// "normal" = on mains (reolink_aio).
    pub power_supply_status: Option<String>,
}

impl BatteryInfo {
    /// From a `<BatteryInfo>` element.
    pub fn from_element(e: &Element) -> Self {
        BatteryInfo {
            channel_id: e.parse_of("channelId"),
            charge_status: e.text_of("chargeStatus").map(str::to_owned),
            adapter_status: e.text_of("adapterStatus").map(str::to_owned),
            voltage_mv: e.parse_of("voltage"),
            current_ma: e.parse_of("current"),
            temperature_c: e.parse_of("temperature"),
            battery_percent: e.parse_of("batteryPercent"),
            low_power: e.parse_of("lowPower"),
            battery_version: e.parse_of("batteryVersion"),
            power_supply_status: e.text_of("powerSupplyStatus").map(str::to_owned),
        }
    }
    /// To an element (fields in the order cameras send them).
    pub fn to_element(&self) -> Element {
        Element::new("BatteryInfo")
            .leaf_opt("channelId", self.channel_id)
            .leaf_opt("chargeStatus", self.charge_status.as_deref())
            .leaf_opt("adapterStatus", self.adapter_status.as_deref())
            .leaf_opt("voltage", self.voltage_mv)
            .leaf_opt("current", self.current_ma)
            .leaf_opt("temperature", self.temperature_c)
            .leaf_opt("batteryPercent", self.battery_percent)
            .leaf_opt("lowPower", self.low_power)
            .leaf_opt("batteryVersion", self.battery_version)
            .leaf_opt("powerSupplyStatus", self.power_supply_status.as_deref())
    }
}

/// `<WifiSignal>` (the msg 115 reply): the camera's Wi-Fi signal strength. The protocol
/// notes name the message but not its fields; `signal`, in dBm (negative; nearer 0 is
/// stronger), is what the clients that read it take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WifiSignal {
    /// dBm.
    pub signal: Option<i32>,
}

impl WifiSignal {
    /// From a `<WifiSignal>` element.
    pub fn from_element(e: &Element) -> Self {
        WifiSignal {
            signal: e.parse_of("signal"),
        }
    }

    /// To an element.
    pub fn to_element(&self) -> Element {
        Element::versioned("WifiSignal").leaf_opt("signal", self.signal)
    }
}

/// `<AlarmEvent>` (inside a msg 33 `AlarmEventList` push): the camera's motion detection
/// (`status` `MD`, else `none`) and, on cameras with AI detection, what it classified
/// (`AItype`: `people`, `vehicle`, `dog_cat`, ..., comma-separated, or `none`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlarmEvent {
    /// Channel.
    pub channel_id: Option<u8>,
    /// `MD` while motion is detected, `none` otherwise.
    pub status: String,
    /// AI classifications, comma-separated; `none` or absent for none.
    pub ai_type: Option<String>,
    /// 0/1: the camera is recording.
    pub recording: Option<i32>,
    /// Camera time (often 0).
    pub timestamp: Option<i64>,
}

/// The most labels one alarm event is read for (a hostile camera cannot make more).
pub const MAX_ALARM_LABELS: usize = 16;

impl AlarmEvent {
    /// From an `<AlarmEvent>` element.
    pub fn from_element(e: &Element) -> Self {
        AlarmEvent {
            channel_id: e.parse_of("channelId"),
            status: e.text_of("status").unwrap_or_default().to_owned(),
            ai_type: e.text_of("AItype").map(str::to_owned),
            recording: e.parse_of("recording"),
            timestamp: e.parse_of("timeStamp"),
        }
    }

    /// To an element (fields in the order cameras send them).
    pub fn to_element(&self) -> Element {
        Element::versioned("AlarmEvent")
            .leaf_opt("channelId", self.channel_id)
            .leaf("status", &self.status)
            .leaf_opt("AItype", self.ai_type.as_deref())
            .leaf_opt("recording", self.recording)
            .leaf_opt("timeStamp", self.timestamp)
    }

    /// Whether the camera reports motion.
    pub fn motion(&self) -> bool {
        self.status
            .split(',')
            .any(|s| s.trim().eq_ignore_ascii_case("md"))
    }

    /// What the camera's AI sees now, lower-cased, sorted, without `none` (at most
    /// [`MAX_ALARM_LABELS`]).
    pub fn ai_labels(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .ai_type
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty() && s != "none")
            .take(MAX_ALARM_LABELS)
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// `<Extension>`: the optional XML before the payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Extension {
    /// 1 = the payload (and later payloads with this msg_num) are binary; 0 clears.
    pub binary_data: Option<u32>,
    /// Channel selector.
    pub channel_id: Option<u8>,
    /// Ability queries: user name.
    pub user_name: Option<String>,
    /// Ability queries: token.
    pub token: Option<String>,
    /// rfId.
    pub rf_id: Option<u32>,
    /// Full-AES media: number of leading payload bytes that are encrypted.
    pub encrypt_len: Option<u32>,
    /// Full-AES media: position of the check value.
    pub check_pos: Option<u32>,
    /// Full-AES media: little-endian i32 of the plaintext at `check_pos`.
    pub check_value: Option<i64>,
}

impl Extension {
    /// `<Extension><channelId>n</channelId></Extension>`.
    pub fn channel(channel_id: u8) -> Self {
        Extension {
            channel_id: Some(channel_id),
            ..Default::default()
        }
    }

    /// `<Extension><binaryData>1</binaryData></Extension>`.
    pub fn binary() -> Self {
        Extension {
            binary_data: Some(1),
            ..Default::default()
        }
    }

    /// From an `<Extension>` element.
    pub fn from_element(e: &Element) -> Self {
        Extension {
            binary_data: e.parse_of("binaryData"),
            channel_id: e.parse_of("channelId"),
            user_name: e.text_of("userName").map(str::to_owned),
            token: e.text_of("token").map(str::to_owned),
            rf_id: e.parse_of("rfId"),
            encrypt_len: e.parse_of("encryptLen"),
            check_pos: e.parse_of("checkPos"),
            check_value: e.parse_of("checkValue"),
        }
    }

    /// Parses an extension document.
    pub fn parse(xml: &[u8]) -> Result<Self, XmlError> {
        Ok(Self::from_element(&parse(xml)?))
    }

    /// To an element.
    pub fn to_element(&self) -> Element {
        Element::versioned("Extension")
            .leaf_opt("encryptLen", self.encrypt_len)
            .leaf_opt("binaryData", self.binary_data)
            .leaf_opt("checkPos", self.check_pos)
            .leaf_opt("checkValue", self.check_value)
            .leaf_opt("userName", self.user_name.as_deref())
            .leaf_opt("token", self.token.as_deref())
            .leaf_opt("channelId", self.channel_id)
            .leaf_opt("rfId", self.rf_id)
    }

    /// The document as sent: declaration + one element per line.
    pub fn to_xml(&self) -> String {
        write(&self.to_element(), Layout::BC)
    }
}

/// A parsed payload document: the top-level items (children of `<body>`, or the root itself
/// when there is no `<body>`), with typed accessors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BcXml {
    /// Top-level items in document order.
    pub items: Vec<Element>,
}

impl BcXml {
    /// Parses a payload document.
    pub fn parse(xml: &[u8]) -> Result<Self, XmlError> {
        let root = parse(xml)?;
        Ok(if root.name == "body" {
            BcXml {
                items: root.children,
            }
        } else {
            BcXml { items: vec![root] }
        })
    }

    /// First top-level item with this name.
    pub fn item(&self, name: &str) -> Option<&Element> {
        self.items.iter().find(|e| e.name == name)
    }

    /// `<Encryption>`.
    pub fn encryption(&self) -> Option<EncryptionXml> {
        self.item("Encryption").map(EncryptionXml::from_element)
    }
    /// `<LoginUser>`.
    pub fn login_user(&self) -> Option<LoginUser> {
        self.item("LoginUser").map(LoginUser::from_element)
    }
    /// `<LoginNet>`.
    pub fn login_net(&self) -> Option<LoginNet> {
        self.item("LoginNet").map(LoginNet::from_element)
    }
    /// `<DeviceInfo>`.
    pub fn device_info(&self) -> Option<DeviceInfo> {
        self.item("DeviceInfo").map(DeviceInfo::from_element)
    }
    /// `<StreamInfoList>`.
    pub fn stream_info_list(&self) -> Option<StreamInfoList> {
        self.item("StreamInfoList")
            .map(StreamInfoList::from_element)
    }
    /// `<Preview>`.
    pub fn preview(&self) -> Option<Preview> {
        self.item("Preview").map(Preview::from_element)
    }
    /// `<AlarmEventList>` (msg 33) as a list.
    pub fn alarm_events(&self) -> Option<Vec<AlarmEvent>> {
        self.item("AlarmEventList").map(|list| {
            list.all("AlarmEvent")
                .map(AlarmEvent::from_element)
                .collect()
        })
    }
    /// `<WifiSignal>` (msg 115 reply).
    pub fn wifi_signal(&self) -> Option<WifiSignal> {
        self.item("WifiSignal").map(WifiSignal::from_element)
    }
    /// `<BatteryList>` (msg 252) as a list; `<BatteryInfo>` alone (msg 253) gives one entry.
    pub fn battery(&self) -> Option<Vec<BatteryInfo>> {
        if let Some(list) = self.item("BatteryList") {
            return Some(
                list.all("BatteryInfo")
                    .map(BatteryInfo::from_element)
                    .collect(),
            );
        }
        self.item("BatteryInfo")
            .map(|b| vec![BatteryInfo::from_element(b)])
    }
}

#[cfg(test)]
mod alarm_tests {
    use super::*;

    #[test]
    fn alarm_events_read_motion_and_ai_labels() {
        let e = AlarmEvent {
            channel_id: Some(0),
            status: "MD".into(),
            ai_type: Some("people, dog_cat,none,People".into()),
            recording: Some(1),
            timestamp: Some(0),
        };
        assert!(e.motion());
        assert_eq!(e.ai_labels(), vec!["dog_cat", "people"]);
        let back = AlarmEvent::from_element(&e.to_element());
        assert_eq!(back, e);
        let none = AlarmEvent {
            status: "none".into(),
            ai_type: Some("none".into()),
            ..e.clone()
        };
        assert!(!none.motion());
        assert!(none.ai_labels().is_empty());
        let many = AlarmEvent {
            ai_type: Some(
                (0..100)
                    .map(|i| format!("l{i}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ..e
        };
        assert_eq!(many.ai_labels().len(), MAX_ALARM_LABELS);
    }
}
