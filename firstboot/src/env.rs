//! Pure: the OVF environment document (DSP0243 §11, namespace
//! `http://schemas.dmtf.org/ovf/environment/1`) that vCenter hands the guest, read into
//! its `key → value` properties. Elements and attributes are matched by **local name**:
//! vCenter writes the default namespace with `oe:`-prefixed attributes, other producers
//! prefix the elements too, and a few leave the attribute unprefixed.

use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// The OVF environment namespace.
pub const NAMESPACE: &str = "http://schemas.dmtf.org/ovf/environment/1";

/// A document that is not a usable OVF environment.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("not well-formed XML at byte {position}")]
    Xml {
        position: u64,
        #[source]
        source: quick_xml::Error,
    },
    #[error("the root element is <{root}>, not <Environment>")]
    NotEnvironment { root: String },
    #[error("a <Property> without a {attribute} attribute")]
    MissingAttribute { attribute: &'static str },
    #[error("property {key} is given twice")]
    Duplicate { key: String },
}

/// The properties of an OVF environment, by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    pub properties: BTreeMap<String, String>,
}

impl Environment {
    /// Reads the `PropertySection` of an environment document.
    pub fn parse(xml: &str) -> Result<Self, EnvError> {
        let mut reader = Reader::from_str(xml);
        let mut properties = BTreeMap::new();
        let mut depth = 0usize;
        let mut in_property_section = false;
        loop {
            let event = reader.read_event().map_err(|source| EnvError::Xml {
                position: reader.error_position(),
                source,
            })?;
            let (start, is_empty) = match &event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(e) => {
                    depth -= 1;
                    if e.local_name().as_ref() == b"PropertySection" {
                        in_property_section = false;
                    }
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            let name = start.local_name();
            if depth == 0 && name.as_ref() != b"Environment" {
                return Err(EnvError::NotEnvironment {
                    root: String::from_utf8_lossy(name.as_ref()).into_owned(),
                });
            }
            match name.as_ref() {
                b"PropertySection" => in_property_section = !is_empty,
                b"Property" if in_property_section => {
                    let (key, value) = key_and_value(start, &reader)?;
                    if properties.insert(key.clone(), value).is_some() {
                        return Err(EnvError::Duplicate { key });
                    }
                }
                _ => {}
            }
            if !is_empty {
                depth += 1;
            }
        }
        Ok(Self { properties })
    }

    /// Writes an environment document the way vCenter does (default namespace, `oe:`
    /// attributes): the stand-in for vCenter in tests and in the boot smoke's ISO.
    pub fn to_xml(&self) -> String {
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Environment xmlns=\"{NAMESPACE}\" \
             xmlns:oe=\"{NAMESPACE}\" xmlns:ve=\"http://www.vmware.com/schema/ovfenv\" oe:id=\"\">\n  \
             <PlatformSection>\n    <Kind>Allerta test harness</Kind>\n  </PlatformSection>\n  \
             <PropertySection>\n"
        );
        for (key, value) in &self.properties {
            out.push_str(&format!(
                "    <Property oe:key=\"{}\" oe:value=\"{}\"/>\n",
                quick_xml::escape::escape(key.as_str()),
                quick_xml::escape::escape(value.as_str())
            ));
        }
        out.push_str("  </PropertySection>\n</Environment>\n");
        out
    }
}

fn key_and_value(
    start: &BytesStart<'_>,
    reader: &Reader<&[u8]>,
) -> Result<(String, String), EnvError> {
    let (mut key, mut value) = (None, None);
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| EnvError::Xml {
            position: reader.buffer_position(),
            source: e.into(),
        })?;
        let text = || {
            attribute
                .decode_and_unescape_value(reader.decoder())
                .map(|v| v.into_owned())
                .map_err(|source| EnvError::Xml {
                    position: reader.buffer_position(),
                    source,
                })
        };
        match attribute.key.local_name().as_ref() {
            b"key" => key = Some(text()?),
            b"value" => value = Some(text()?),
            _ => {}
        }
    }
    Ok((
        key.ok_or(EnvError::MissingAttribute { attribute: "key" })?,
        value.ok_or(EnvError::MissingAttribute { attribute: "value" })?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcenter_s_form_is_read_by_local_name() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1"
     xmlns:oe="http://schemas.dmtf.org/ovf/environment/1"
     xmlns:ve="http://www.vmware.com/schema/ovfenv" oe:id="" ve:vCenterId="vm-123">
  <PlatformSection><Kind>VMware ESXi</Kind><Version>8.0.3</Version></PlatformSection>
  <PropertySection>
     <Property oe:key="data.ip" oe:value="192.0.2.11"/>
     <Property oe:key="trunk_in.password" oe:value="p&amp;w&quot;&lt;x&gt;"/>
  </PropertySection>
  <ve:EthernetAdapterSection>
     <ve:Adapter ve:mac="00:50:56:aa:bb:cc" ve:network="VM Network" ve:unitNumber="7"/>
  </ve:EthernetAdapterSection>
</Environment>"#;
        let env = Environment::parse(xml).unwrap();
        assert_eq!(env.properties["data.ip"], "192.0.2.11");
        assert_eq!(env.properties["trunk_in.password"], "p&w\"<x>");
        assert_eq!(env.properties.len(), 2);
    }

    #[test]
    fn prefixed_elements_and_unprefixed_attributes_are_read_too() {
        let xml = r#"<oe:Environment xmlns:oe="http://schemas.dmtf.org/ovf/environment/1">
  <oe:PropertySection><oe:Property key="node.role" value="backup"></oe:Property></oe:PropertySection>
</oe:Environment>"#;
        let env = Environment::parse(xml).unwrap();
        assert_eq!(env.properties["node.role"], "backup");
    }

    #[test]
    fn properties_outside_the_property_section_are_not_taken() {
        let xml = r#"<Environment><Entity><PropertySection/></Entity>
  <Other><Property key="x" value="1"/></Other></Environment>"#;
        assert!(Environment::parse(xml).unwrap().properties.is_empty());
    }

    #[test]
    fn broken_documents_are_errors() {
        assert!(matches!(
            Environment::parse("<Envelope/>"),
            Err(EnvError::NotEnvironment { .. })
        ));
        assert!(matches!(
            Environment::parse("<Environment><PropertySection><Property key='a'/>"),
            Err(EnvError::MissingAttribute { attribute: "value" })
        ));
        let twice = "<Environment><PropertySection><Property key='a' value='1'/>\
                     <Property key='a' value='2'/></PropertySection></Environment>";
        assert!(matches!(
            Environment::parse(twice),
            Err(EnvError::Duplicate { .. })
        ));
        assert!(matches!(
            Environment::parse("<Environment><PropertySection></Environment>"),
            Err(EnvError::Xml { .. })
        ));
    }

    #[test]
    fn what_we_write_reads_back() {
        let mut env = Environment::default();
        env.properties.insert("a.b".into(), "x & <y> \"z\"".into());
        env.properties.insert("c".into(), String::new());
        assert_eq!(Environment::parse(&env.to_xml()).unwrap(), env);
    }
}
