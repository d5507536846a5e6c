//! Wire types of the sensor's gRPC API. Domain <-> wire conversion lives in the sensor crate
//! (`sensor::api::convert`), not here.
#[expect(
    clippy::large_enum_variant,
    reason = "generated code: GetEventsResponse.item"
)]
pub mod v1 {
    tonic::include_proto!("sensor.v1");

    /// The encoded `FileDescriptorSet` of `sensor.v1`, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/sensor_v1_descriptor.bin"));
}

/// The server side of `sensor.v1.SensorService`, whose GetEvents stream carries responses
/// encoded beforehand ([`encoded::EncodedEventsResponse`]); on the wire it is the same API.
pub mod encoded {
    use std::sync::Arc;

    use prost::{
        DecodeError,
        bytes::{Buf, BufMut},
        encoding::{DecodeContext, WireType},
    };

    /// A `sensor.v1.GetEventsResponse`, already encoded (protobuf, without length prefix),
    /// behind whatever shares it: the sensor hands every subscriber the same published event,
    /// whose bytes the codec copies straight into its buffer (no copy or count of its own).
    /// The server only sends it; decoding one skips every field (clients decode
    /// [`crate::v1::GetEventsResponse`]).
    #[derive(Clone)]
    pub struct EncodedEventsResponse(pub Arc<dyn AsRef<[u8]> + Send + Sync>);

    impl EncodedEventsResponse {
        /// Encodes `msg` (for items that are not shared between subscribers).
        pub fn encode(msg: &crate::v1::GetEventsResponse) -> Self {
            Self(Arc::new(prost::Message::encode_to_vec(msg)))
        }

        /// The encoded message.
        pub fn bytes(&self) -> &[u8] {
            (*self.0).as_ref()
        }
    }

    impl Default for EncodedEventsResponse {
        fn default() -> Self {
            Self(Arc::new(Vec::new()))
        }
    }

    impl std::fmt::Debug for EncodedEventsResponse {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "EncodedEventsResponse({} bytes)", self.bytes().len())
        }
    }

    impl PartialEq for EncodedEventsResponse {
        fn eq(&self, other: &Self) -> bool {
            self.bytes() == other.bytes()
        }
    }

    impl prost::Message for EncodedEventsResponse {
        fn encode_raw(&self, buf: &mut impl BufMut) {
            buf.put_slice(self.bytes());
        }

        fn merge_field(
            &mut self,
            tag: u32,
            wire_type: WireType,
            buf: &mut impl Buf,
            ctx: DecodeContext,
        ) -> Result<(), DecodeError> {
            prost::encoding::skip_field(wire_type, tag, buf, ctx)
        }

        fn encoded_len(&self) -> usize {
            self.bytes().len()
        }

        fn clear(&mut self) {
            *self = Self::default();
        }
    }

    /// The server's codec: tonic's prost codec with an encode buffer sized for event streams.
    /// With tonic's default (8 KiB, grown by doubling up to its 32 KiB yield threshold) every
    /// chunk of a busy stream was reallocated and copied three times over; this one starts at
    /// 64 KiB and hands h2 a chunk at every 48 KiB, so a chunk is written once and the buffer
    /// is rarely regrown. h2 writes each DATA frame with a write of its own: a client that
    /// accepts large frames (`sensor events` asks for 1 MiB) gets a burst in one write, one
    /// with h2's default 16 KiB frames in three.
    #[derive(Debug, Clone)]
    pub struct Codec<T, U>(std::marker::PhantomData<(T, U)>);

    impl<T, U> Default for Codec<T, U> {
        fn default() -> Self {
            Self(std::marker::PhantomData)
        }
    }

    /// Encode buffer: start size, and the size at which a chunk goes to the stream.
    pub const ENCODE_BUFFER: (usize, usize) = (64 * 1024, 48 * 1024);

    impl<T, U> tonic::codec::Codec for Codec<T, U>
    where
        T: prost::Message + Send + 'static,
        U: prost::Message + Default + Send + 'static,
    {
        type Encode = T;
        type Decode = U;
        type Encoder = tonic_prost::ProstEncoder<T>;
        type Decoder = tonic_prost::ProstDecoder<U>;

        fn encoder(&mut self) -> Self::Encoder {
            let (size, chunk) = ENCODE_BUFFER;
            tonic_prost::ProstEncoder::new(tonic::codec::BufferSettings::new(size, chunk))
        }

        fn decoder(&mut self) -> Self::Decoder {
            tonic_prost::ProstDecoder::new(Default::default())
        }
    }

    include!(concat!(env!("OUT_DIR"), "/encoded/sensor.v1.rs"));

    #[cfg(test)]
    mod tests {
        use prost::Message as _;

        use super::EncodedEventsResponse;
        use crate::v1::{GetEventsResponse, Lost, get_events_response::Item};

        #[test]
        fn the_encoded_response_is_the_response_on_the_wire() {
            let msg = GetEventsResponse {
                item: Some(Item::Lost(Lost {
                    count: 3,
                    reason: 2,
                    kind: 1,
                })),
            };
            let encoded = EncodedEventsResponse::encode(&msg);
            // What the server writes, as a client decodes it.
            let wire = encoded.encode_to_vec();
            assert_eq!(GetEventsResponse::decode(wire.as_slice()).unwrap(), msg);
            assert_eq!(encoded.encoded_len(), msg.encoded_len());
        }
    }
}

/// The subset of the Kubernetes CRI (`runtime.v1`) that the sensor reads pod metadata from.
pub mod cri {
    tonic::include_proto!("runtime.v1");
}
