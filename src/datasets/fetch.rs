//! `fetch-data`: third-party datasets and models, taken from package registries by name.
//!
//! # Overview
//! Nothing third-party is committed to the repository. [`fetch_all`] obtains it from
//! package registries, keeps only the files listed in [`MANIFEST`], checks each one's
//! sha256 and writes them under a cache directory ([`default_cache_dir`]: the one set by
//! [`set_cache_dir`], else `$CLASSIC_CV_DATA`, else `data/cache` in a classic-cv checkout,
//! else a per-user cache directory):
//!
//! | package | registry | kept as |
//! |---|---|---|
//! | `dataset-fashion-mnist` | Debian (`apt-get download`, unpacked with `dpkg-deb -x`; no root) | `fashion-mnist/*.gz` |
//! | `opencv-data` | Debian | `opencv/haarcascades/*.xml`, `opencv/lbpcascades/*.xml` |
//! | `opencv-doc` | Debian | `opencv-doc/*` (OpenCV's sample data for geometry and stereo: the 9x6 chessboard photos `left01..14.jpg` / `right01..14.jpg` (no 10), `graf1.png` / `graf3.png` with the ground-truth homography `H1to3p.xml`, `box.png` / `box_in_scene.png`, the Middlebury Aloe pair `aloeL.jpg` / `aloeR.jpg` with `aloeGT.png`, and the video `Megamind.avi`) |
//! | `lomiri-wallpapers-16.04`, `lomiri-wallpapers-20.04`, `ukui-wallpapers` | Debian | `wallpapers/*/*.jpg,*.png` (31 desktop photos and illustrations without faces: background images for training face cascades) |
//! | `scikit-image==0.26.0` wheel | PyPI (`pip download`, unpacked with Python's `zipfile`) | `skimage/*.png,*.jpg,lfw_subset.npy` |
//! | `face_recognition==1.3.0` source archive | PyPI (`pip download --no-binary :all:`, unpacked with Python's `tarfile`) | `faces/*.jpg` (4 portrait photos of its tests, used only to evaluate face detectors) |
//!
//! It is idempotent: files present with the right checksum are left alone, and a package is
//! downloaded only when one of its files is missing or corrupted (a corrupted file is
//! reported, then replaced). [`verify`] checks without downloading.
//!
//! When `apt-get`, `dpkg-deb` or `pip` is missing, the error says which command installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Environment variable that overrides the cache directory.
pub const CACHE_ENV: &str = "CLASSIC_CV_DATA";

/// The version of the scikit-image wheel the sample images come from.
pub const SKIMAGE_VERSION: &str = "0.26.0";

/// Every file kept, relative to the cache directory, with its sha256.
pub const MANIFEST: &[(&str, &str)] = &[
    (
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    ),
    (
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    ),
    (
        "fashion-mnist/train-images-idx3-ubyte.gz",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    ),
    (
        "fashion-mnist/train-labels-idx1-ubyte.gz",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    ),
    (
        "opencv/haarcascades/haarcascade_eye.xml",
        "71cc64fc305a355dc60067880f6fbbd43dd155bd63ee3844661a1bda34b2fd8c",
    ),
    (
        "opencv/haarcascades/haarcascade_eye_tree_eyeglasses.xml",
        "e32f9c67935c33e9d1331eb14fa58554ff17835c03742663bcb97a892e936a57",
    ),
    (
        "opencv/haarcascades/haarcascade_frontalcatface.xml",
        "ac2bac934ef24284ef8a2b2e9d8e57eef84ac1d6943b4d11e5c9e8584dc069c8",
    ),
    (
        "opencv/haarcascades/haarcascade_frontalcatface_extended.xml",
        "ffd0d1d28f07d0376c89db4c9845009c2855cc76c8cff763d5331dc9361da854",
    ),
    (
        "opencv/haarcascades/haarcascade_frontalface_alt.xml",
        "6281df13459cc218ff047d02b2ae3859b12ff14a93ffe8952f7b33fad7b9697b",
    ),
    (
        "opencv/haarcascades/haarcascade_frontalface_alt2.xml",
        "7b0c967d9abbdfbde025eb9c786947d151b6426040d07a8f9562ed8fd90724b4",
    ),
    (
        "opencv/haarcascades/haarcascade_frontalface_alt_tree.xml",
        "0e5ee47ecc13269d54dd7a55f8b53752167c52587720877732388fb078a0480a",
    ),
    (
        "opencv/haarcascades/haarcascade_frontalface_default.xml",
        "0f7d4527844eb514d4a4948e822da90fbb16a34a0bbbbc6adc6498747a5aafb0",
    ),
    (
        "opencv/haarcascades/haarcascade_fullbody.xml",
        "041745c71eef1b5c86aef224f17ce75b042d33314cc8f6757424f8bd8cd30aa1",
    ),
    (
        "opencv/haarcascades/haarcascade_lefteye_2splits.xml",
        "74c323c78c81475fc9158facbfb866bb0cca06be41f571df47d4ac8d01f9ce4c",
    ),
    (
        "opencv/haarcascades/haarcascade_licence_plate_rus_16stages.xml",
        "4d1c44bf7a1bc4e204fa25b046ed0acffd7f713cc13fe2958b6977125c60ddea",
    ),
    (
        "opencv/haarcascades/haarcascade_lowerbody.xml",
        "1e696e1c7c66c439ae229cfff8871f42037c357e9e1e090a2b59ebc1f8ff5cbb",
    ),
    (
        "opencv/haarcascades/haarcascade_profileface.xml",
        "b39a4a3be45539db146a7fc1d3e761a292c196eb88421185e6a615b3055e612d",
    ),
    (
        "opencv/haarcascades/haarcascade_righteye_2splits.xml",
        "4cf0d72bea7307e9af7eb99d4acbe15d7101a67c22fcdcfbeefd692ad37cf776",
    ),
    (
        "opencv/haarcascades/haarcascade_russian_plate_number.xml",
        "814cb5954682af570e58361f9e5f8b5b513a4112776bb9ecacef9f0e4ca6c2d7",
    ),
    (
        "opencv/haarcascades/haarcascade_smile.xml",
        "4ca1f304eabd0b5ae30180c81acb53e166a5867e5be17b316bd3f32cfdf87d8a",
    ),
    (
        "opencv/haarcascades/haarcascade_upperbody.xml",
        "7328ab4fdb1592f53d98d7ea5b1b9d90e01af5d95f212af378c7eb579048bb5f",
    ),
    (
        "opencv/lbpcascades/lbpcascade_frontalcatface.xml",
        "392c289fece5ceef6a2050431e5fee399d38c6d2dd3d2f5030760b1047f242b1",
    ),
    (
        "opencv/lbpcascades/lbpcascade_frontalface.xml",
        "6f5f20091b0d20311c929bcd8c927074e50bd0ac6424321016c679f43cf5ebcf",
    ),
    (
        "opencv/lbpcascades/lbpcascade_frontalface_improved.xml",
        "7c31331d494f20e216b397ad99d824d92ab91ebb15db3bcda6a2f8e684d238d3",
    ),
    (
        "opencv/lbpcascades/lbpcascade_profileface.xml",
        "076359afc4ede57e4507f6a6bb5e5c0cbaabaaa41ef514b5f98d01c1bd1d2fff",
    ),
    (
        "opencv/lbpcascades/lbpcascade_silverware.xml",
        "ed9b294b8d7cce1c7114e99c15e1496908ab7e8f5f1f4141f393a70e31998fd9",
    ),
    (
        "faces/biden.jpg",
        "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
    ),
    (
        "faces/obama.jpg",
        "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
    ),
    (
        "faces/obama2.jpg",
        "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
    ),
    (
        "faces/obama3.jpg",
        "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
    ),
    (
        "wallpapers/lomiri-16.04/Bridge_by_Sander_Klootwijk.jpg",
        "bd86b081f9975e2b83527f71e49b9271a8ab40885428395969d9f7d834d7f050",
    ),
    (
        "wallpapers/lomiri-16.04/Dragonfly_by_Bolly.jpg",
        "af5af17841009732def24b09bb1e669a1b09d2b4bdeee7812c371101c30d2bb3",
    ),
    (
        "wallpapers/lomiri-16.04/Picture_0B_by_freespace.jpg",
        "c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad",
    ),
    (
        "wallpapers/lomiri-16.04/Picture_1A_by_freespace.jpg",
        "89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b",
    ),
    (
        "wallpapers/lomiri-16.04/Wine_by_Jakkub_Mede.jpg",
        "d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74",
    ),
    (
        "wallpapers/lomiri-16.04/aitzgorri_by_Aitzol_Berasategi.jpg",
        "66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36",
    ),
    (
        "wallpapers/lomiri-16.04/analogpattern_by_Peter_Nerlich.jpg",
        "15372488a192b2be2eafc67bd3ed31cbfca19abe3929e925607fcbc9cb4d4202",
    ),
    (
        "wallpapers/lomiri-16.04/free_by_Peter_Nerlich.jpg",
        "85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373",
    ),
    (
        "wallpapers/lomiri-16.04/friends_by_Aitzol_Berasategi.jpg",
        "cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d",
    ),
    (
        "wallpapers/lomiri-16.04/greentock_by_Peter_Nerlich.jpg",
        "e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889",
    ),
    (
        "wallpapers/lomiri-16.04/life_by_Aitzol_Berasategi.jpg",
        "4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05",
    ),
    (
        "wallpapers/lomiri-16.04/picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a",
    ),
    (
        "wallpapers/lomiri-16.04/seeding_by_Clements_Engelhardt.jpg",
        "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f",
    ),
    (
        "wallpapers/lomiri-16.04/sunset_by_Aitzol_Berasategi.jpg",
        "474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18",
    ),
    (
        "wallpapers/lomiri-16.04/umang_by_Abhishek_Mudgal.jpg",
        "bfb425545e77e9f0eb1b037b607fc9ed4a446f3b0f04aa2879be3556073c57ef",
    ),
    (
        "wallpapers/lomiri-20.04/Fossa_by_Jasper_Roks.jpg",
        "4e1f6bfd73f374ac28adbf37d5f9f7ce847dccba71e860f0ff50509316be1f82",
    ),
    (
        "wallpapers/lomiri-20.04/Infinite-Sea_by_Aury88.jpg",
        "9319dfb3651833881339a8d9b769b99efaf474969e6cd58e427eb2524aca8e8a",
    ),
    (
        "wallpapers/lomiri-20.04/Kleiber_by_Lukas_Baubkus.jpg",
        "6572410c09f4492c74ccadde133565a14c0161617d5917d4c820c66d65a44ba7",
    ),
    (
        "wallpapers/lomiri-20.04/Painting-Colors_by__herobrine7gamer.jpg",
        "dc688df829e177f23d5e2761a198d2e44e477e4b3b3c750661052c89f7abc46c",
    ),
    (
        "wallpapers/ukui/2004default.jpg",
        "3a9ce649f4cc97bec5f53eba56b73d4186efa86de0708bf1d85236eeeb875ca8",
    ),
    (
        "wallpapers/ukui/calla.png",
        "26fc5b5461f37132d913c9b03a48392e59a58f66e665cc5dfc2d997bda4190d4",
    ),
    (
        "wallpapers/ukui/city.png",
        "7d7d048f935a7ca9de2808bc0523507a2fe36eda7e9b2fdfc1e3ebd7f4f2169d",
    ),
    (
        "wallpapers/ukui/desert.png",
        "e4247a65a08bdf23b42b318583ca9d2c796728466d30a2afdcf3a135c6a14a34",
    ),
    (
        "wallpapers/ukui/firstgeneration.jpg",
        "177f1f8cf97dce50abd06c60f274547114b71519f3484e744beecaffa4fd6faa",
    ),
    (
        "wallpapers/ukui/fluent-color.png",
        "d8c185c623cdacf36133a3030ac86d73ef2b54e9aad1c8fab1ccb4d91f297511",
    ),
    (
        "wallpapers/ukui/focal-ubuntukylin.png",
        "3590397864dfceb16f14fc7646c5465a691082fd33a5fc8702c31d954fd9ef0a",
    ),
    (
        "wallpapers/ukui/goldfish.png",
        "a01ef5d91bfe63fd77e91107ebb83fe203b39ad09cfb40488c56d21f50dffe0f",
    ),
    (
        "wallpapers/ukui/rhythm.jpg",
        "7ed93d313b3a699b0f97af153aa3af6dcfdedb8dd35b4fba090f16fb82087de0",
    ),
    (
        "wallpapers/ukui/rollpaper.png",
        "6928e4ae7483a4df1fa5d3cdd89ef94fa236fe560f97c99f399f0163120e9669",
    ),
    (
        "wallpapers/ukui/string.jpg",
        "73fd26471a45955d256e9318fb24e7ec3a6a922fdc12ec3080c75d2a8da8ab3d",
    ),
    (
        "wallpapers/ukui/the-mouse.jpg",
        "e4717d5cb7dd3ed12cf0883567b7f2ca38dd83a073a12fc666e8c3b87c3abf79",
    ),
    (
        "opencv-doc/left01.jpg",
        "9621899098adffa1440c8264606bb7be535ccfd9ad126ae8e0bd9b0c5a5b8676",
    ),
    (
        "opencv-doc/left02.jpg",
        "052e700bbcc865c112958ec2ea105cb1bce4deca50ac8d6efae13adca9df7a2c",
    ),
    (
        "opencv-doc/left03.jpg",
        "c85b9426c3d8fcf161e1e727356105091009c3fd0b1b1a65bc2da91fea2724d2",
    ),
    (
        "opencv-doc/left04.jpg",
        "b490599dccfbfe5eb56d33363415b02227a9548ab8c9b8e7b05d3580e97266d9",
    ),
    (
        "opencv-doc/left05.jpg",
        "40bab8934fa76f82ec614a7fd0e6ebb4d9f74391d5e8b0c6f2f0ed6080c6c4de",
    ),
    (
        "opencv-doc/left06.jpg",
        "1cb164db61b3bd52f58a7e9340bb27c5e0278895bc80b6f292fba5cf9bccc4a1",
    ),
    (
        "opencv-doc/left07.jpg",
        "d2211fe9f971646b6ff88ed93a4f0d3f443741eb2894095cba15caade7c8c6e4",
    ),
    (
        "opencv-doc/left08.jpg",
        "f7a0737894812a28243af5b409c5689f4fadfe7610958b8ca5fc79aec2f2cd1b",
    ),
    (
        "opencv-doc/left09.jpg",
        "753939bc62d093c001d9118e989bef2b887f1b2f9ac03603df915a8b85aa81d3",
    ),
    (
        "opencv-doc/left11.jpg",
        "e736ace3d515c94c547009c3c10d818c81506ed7059cb31123749b9cc3f94ee8",
    ),
    (
        "opencv-doc/left12.jpg",
        "04bdd78b3b507fe0551aa7062a3ffd94846a147ee2bea7fb38082c720bdbe231",
    ),
    (
        "opencv-doc/left13.jpg",
        "2637fb6dd5e557f4fadb06b353a453eb0b9223f4671f6f572f815302bc4a70b3",
    ),
    (
        "opencv-doc/left14.jpg",
        "d4c032971dd7b859f9d6aed5090c9888bd8039b82e0604bee5bfe05444fce834",
    ),
    (
        "opencv-doc/right01.jpg",
        "94a160342fade4d0c4d2e94b8cb6c1e144a6e7682389d2991257e3a28625cb2d",
    ),
    (
        "opencv-doc/right02.jpg",
        "f7819b2fcc45fdeff0cefd666a1f8bd2a5828c4d34367d7b6b6691f442bf1c42",
    ),
    (
        "opencv-doc/right03.jpg",
        "43a3cea1907be641268ea18478362ab6c459424a9d8b7265eb5fb2264fcfb894",
    ),
    (
        "opencv-doc/right04.jpg",
        "d5874ff3d948dbb673beb035dd70aef5e517119ff626ecdfd612fdd6a1eec32e",
    ),
    (
        "opencv-doc/right05.jpg",
        "9382a24af5a21a9e3ec477bd4f74011e4bb10b0cdbc7e0de3ae60b75e95d650b",
    ),
    (
        "opencv-doc/right06.jpg",
        "874b60edc8a53da477c6ee393184a1aafdc83ceaedcb4d0535f7c482d1c80e76",
    ),
    (
        "opencv-doc/right07.jpg",
        "446093eead30c8cb1e51c8d01d322907760a3a57876596a81af6bf0795e9be67",
    ),
    (
        "opencv-doc/right08.jpg",
        "5f1be870c8709fd5fc4dd578103b320018aabb4e18b8e8edaba9afbdd4d0b8f4",
    ),
    (
        "opencv-doc/right09.jpg",
        "de28e9f146f4b7de78b0e39be6682997a7428f8ec5ef4efc753415d4ff8d9d76",
    ),
    (
        "opencv-doc/right11.jpg",
        "2695e8f8e94eaef0bcfe56818090dada6dc76f53e30b77b97bea3a91080949db",
    ),
    (
        "opencv-doc/right12.jpg",
        "07489b6a334fae390954bbbddedf03a0556163e5e364820838e881ebd3f33e0d",
    ),
    (
        "opencv-doc/right13.jpg",
        "a576cc5e69668d65dd926366d103c4c77377e0cd71403e4e0fc278e335ed953c",
    ),
    (
        "opencv-doc/right14.jpg",
        "e98bbe907610e9499d704bd0fe68d4adc158b19346cbc32f4cfe8a0014b1bd62",
    ),
    (
        "opencv-doc/graf1.png",
        "1504b769303c7bde00fa578eeaad3c68e02aceabeb1242e556f1f8d19e4bdea5",
    ),
    (
        "opencv-doc/graf3.png",
        "492e0e96f21748d093e1a29f4dbfd46528bd75966937e85ce7c8abc0f361fc15",
    ),
    (
        "opencv-doc/H1to3p.xml",
        "9cd961fef3542462153a95acad164bc0da784622034a4eaf384c9beeaa19588f",
    ),
    (
        "opencv-doc/box.png",
        "1094629c1e2ebbc8a9ae2c9c63e18c1dff0f5f1481146e02f3b11a3d30feb20a",
    ),
    (
        "opencv-doc/box_in_scene.png",
        "8b0225ff76244a42bd1400c0904f8b7afea7d97b7d8115495e42e98ad347bd51",
    ),
    (
        "opencv-doc/aloeL.jpg",
        "cce5736808efe80d9f04b118dbb978c344d4345672b332718c3e039a3eeb8eee",
    ),
    (
        "opencv-doc/aloeR.jpg",
        "9b23100df31a846bc6e6a6545563b2b4120b948c9835c7d36cde00af77f4503e",
    ),
    (
        "opencv-doc/aloeGT.png",
        "39ce4f3cb48d797d1091c5152f93361d8104298c337f8a1c134d87dda3442c04",
    ),
    (
        "opencv-doc/Megamind.avi",
        "0057387cb7e75c8fd1663b62cfdc51fa53f527795d0fe3c1fea2fd159d3130b5",
    ),
    (
        "skimage/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    ),
    (
        "skimage/brick.png",
        "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
    ),
    (
        "skimage/camera.png",
        "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
    ),
    (
        "skimage/cell.png",
        "8d23a7fb81f7cc877cd09f330357fc7f595651306e84e17252f6e0a1b3f61515",
    ),
    (
        "skimage/chelsea.png",
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    ),
    (
        "skimage/chessboard_GRAY.png",
        "3e51870774515af4d07d820bd8827364c70839bf9b573c746e485095e893df90",
    ),
    (
        "skimage/chessboard_RGB.png",
        "1ac01eff2d4e50f4eda55a2ddecdc28a6576623a58d7a7ef84513c5cc19a0331",
    ),
    (
        "skimage/clock_motion.png",
        "f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955",
    ),
    (
        "skimage/coffee.png",
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    ),
    (
        "skimage/coins.png",
        "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba",
    ),
    (
        "skimage/color.png",
        "7d2df993de2b4fa2a78e04e5df8050f49a9c511aa75e59ab3bd56ac9c98aef7e",
    ),
    (
        "skimage/grass.png",
        "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
    ),
    (
        "skimage/gravel.png",
        "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12",
    ),
    (
        "skimage/horse.png",
        "c7fb60789fe394c485f842291ea3b21e50d140f39d6dcb5fb9917cc178225455",
    ),
    (
        "skimage/hubble_deep_field.jpg",
        "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
    ),
    (
        "skimage/ihc.png",
        "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef",
    ),
    (
        "skimage/lfw_subset.npy",
        "9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c",
    ),
    (
        "skimage/logo.png",
        "f2c57fe8af089f08b5ba523d95573c26e62904ac5967f4c8851b27d033690168",
    ),
    (
        "skimage/microaneurysms.png",
        "a1e1be59aa447f8ce082f7fa809997ab369a2b137cb6c4202abc647c7ccf6456",
    ),
    (
        "skimage/moon.png",
        "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577",
    ),
    (
        "skimage/motorcycle_left.png",
        "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    ),
    (
        "skimage/motorcycle_right.png",
        "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797",
    ),
    (
        "skimage/page.png",
        "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3",
    ),
    (
        "skimage/phantom.png",
        "552ff698167aa402cceb17981130607a228a0a0aa7c519299eaa4d5f301ba36c",
    ),
    (
        "skimage/retina.jpg",
        "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6",
    ),
    (
        "skimage/rocket.jpg",
        "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    ),
    (
        "skimage/text.png",
        "bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1",
    ),
];

/// A package that provides some of the [`MANIFEST`] files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A Debian package: its name, the directory inside it holding the files, and the
    /// cache sub-directory they go to.
    Debian {
        /// Package name.
        package: &'static str,
        /// Directory inside the package.
        inner: &'static str,
        /// Cache sub-directory (the prefix of the manifest paths).
        prefix: &'static str,
    },
    /// A PyPI source archive (`.tar.gz`): requirement, directory inside the archive,
    /// cache sub-directory.
    Sdist {
        /// Requirement given to pip (`name==version`).
        requirement: &'static str,
        /// Directory inside the archive.
        inner: &'static str,
        /// Cache sub-directory.
        prefix: &'static str,
    },
    /// A PyPI wheel: requirement, directory inside the wheel, cache sub-directory.
    Wheel {
        /// Requirement given to pip (`name==version`).
        requirement: &'static str,
        /// Directory inside the wheel.
        inner: &'static str,
        /// Cache sub-directory.
        prefix: &'static str,
    },
}

/// All sources, in fetch order.
pub const SOURCES: &[Source] = &[
    Source::Debian {
        package: "dataset-fashion-mnist",
        inner: "usr/share/datasets/fashion-mnist",
        prefix: "fashion-mnist",
    },
    Source::Debian {
        package: "opencv-data",
        inner: "usr/share/opencv4/haarcascades",
        prefix: "opencv/haarcascades",
    },
    Source::Debian {
        package: "opencv-data",
        inner: "usr/share/opencv4/lbpcascades",
        prefix: "opencv/lbpcascades",
    },
    Source::Debian {
        package: "opencv-doc",
        inner: "usr/share/doc/opencv-doc/examples/data",
        prefix: "opencv-doc",
    },
    Source::Debian {
        package: "lomiri-wallpapers-16.04",
        inner: "usr/share/backgrounds",
        prefix: "wallpapers/lomiri-16.04",
    },
    Source::Debian {
        package: "lomiri-wallpapers-20.04",
        inner: "usr/share/backgrounds",
        prefix: "wallpapers/lomiri-20.04",
    },
    Source::Debian {
        package: "ukui-wallpapers",
        inner: "usr/share/backgrounds",
        prefix: "wallpapers/ukui",
    },
    Source::Wheel {
        requirement: "scikit-image==0.26.0",
        inner: "skimage/data",
        prefix: "skimage",
    },
    Source::Sdist {
        requirement: "face_recognition==1.3.0",
        inner: "face_recognition-1.3.0/tests/test_images",
        prefix: "faces",
    },
];

impl Source {
    fn inner(&self) -> &'static str {
        match self {
            Source::Debian { inner, .. }
            | Source::Sdist { inner, .. }
            | Source::Wheel { inner, .. } => inner,
        }
    }

    fn prefix(&self) -> &'static str {
        match self {
            Source::Debian { prefix, .. }
            | Source::Sdist { prefix, .. }
            | Source::Wheel { prefix, .. } => prefix,
        }
    }

    /// Human-readable name of the package.
    pub fn name(&self) -> &'static str {
        match self {
            Source::Debian { package, .. } => package,
            Source::Sdist { requirement, .. } | Source::Wheel { requirement, .. } => requirement,
        }
    }

    /// The manifest entries this source provides.
    pub fn files(&self) -> impl Iterator<Item = &'static (&'static str, &'static str)> {
        let prefix = self.prefix();
        MANIFEST
            .iter()
            .filter(move |(p, _)| p.rsplit_once('/').map(|(dir, _)| dir) == Some(prefix))
    }
}

/// State of one manifest file in the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Present with the expected checksum.
    Ok,
    /// Absent.
    Missing,
    /// Present with another checksum (the one found).
    Corrupted(String),
}

/// What [`fetch_all`] reports while it works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchEvent {
    /// Every file of a source is already present and verified.
    UpToDate {
        /// The package.
        source: &'static str,
        /// Number of files.
        files: usize,
    },
    /// A cached file failed its checksum and will be replaced.
    Corrupted {
        /// The file.
        path: PathBuf,
    },
    /// A package is being downloaded.
    Downloading {
        /// The package.
        source: &'static str,
    },
    /// A package's files were written and verified.
    Installed {
        /// The package.
        source: &'static str,
        /// Number of files written.
        files: usize,
    },
}

/// The directory [`set_cache_dir`] chose, if any.
static CACHE_OVERRIDE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Sets the cache directory for the rest of the process (a command-line option); the
/// first call wins.
pub fn set_cache_dir(dir: PathBuf) {
    let _ = CACHE_OVERRIDE.set(dir);
}

/// The cache directory, the first of:
///
/// 1. the directory given to [`set_cache_dir`];
/// 2. `$CLASSIC_CV_DATA`, when set and not empty;
/// 3. `data/cache` when the working directory is a classic-cv checkout (it has
///    `data/cache`, or `data/models/face-cascade.xml`);
/// 4. the per-user cache: `$XDG_CACHE_HOME/classic-cv`, else `$HOME/.cache/classic-cv`;
/// 5. `data/cache` when there is no home directory either.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = CACHE_OVERRIDE.get() {
        return dir.clone();
    }
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var(CACHE_ENV) {
        return PathBuf::from(dir);
    }
    let repo = Path::new("data/cache");
    if repo.is_dir() || Path::new("data/models/face-cascade.xml").is_file() {
        return repo.to_path_buf();
    }
    var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map_or_else(|| repo.to_path_buf(), |base| base.join("classic-cv"))
}

/// sha256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Checks every manifest file under `dir` without downloading anything.
pub fn verify(dir: &Path) -> Result<Vec<(PathBuf, FileState)>> {
    MANIFEST
        .iter()
        .map(|(rel, sha)| {
            let path = dir.join(rel);
            let state = if !path.is_file() {
                FileState::Missing
            } else {
                let found = sha256_file(&path)?;
                if found == *sha {
                    FileState::Ok
                } else {
                    FileState::Corrupted(found)
                }
            };
            Ok((path, state))
        })
        .collect()
}

/// Fetches whatever is missing or corrupted under `dir`; returns the number of files written.
pub fn fetch_all(dir: &Path, on_event: &mut dyn FnMut(FetchEvent)) -> Result<usize> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let downloads = dir.join(".download");
    let _ = std::fs::remove_dir_all(&downloads);
    let result = fetch_sources(dir, &downloads, on_event);
    let _ = std::fs::remove_dir_all(&downloads);
    result
}

fn fetch_sources(
    dir: &Path,
    downloads: &Path,
    on_event: &mut dyn FnMut(FetchEvent),
) -> Result<usize> {
    let mut written = 0;
    for source in SOURCES {
        let mut needed = Vec::new();
        for (rel, sha) in source.files() {
            let path = dir.join(rel);
            if path.is_file() {
                if sha256_file(&path)? == *sha {
                    continue;
                }
                on_event(FetchEvent::Corrupted { path: path.clone() });
            }
            needed.push((*rel, *sha));
        }
        if needed.is_empty() {
            on_event(FetchEvent::UpToDate {
                source: source.name(),
                files: source.files().count(),
            });
            continue;
        }
        on_event(FetchEvent::Downloading {
            source: source.name(),
        });
        // A package that provides several prefixes (opencv-data) is downloaded once a run.
        let work = downloads.join(source.name().replace(['=', '.'], "_"));
        if !work.is_dir() {
            std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
            download(source, &work)?;
        }
        let unpacked = work.join("root").join(source.inner());
        for (rel, sha) in &needed {
            let name = Path::new(rel)
                .file_name()
                .expect("manifest paths name files");
            let from = unpacked.join(name);
            if !from.is_file() {
                return Err(Error::Tool {
                    tool: source.name().into(),
                    reason: format!(
                        "the package has no {} (was it renamed in a newer version?)",
                        name.to_string_lossy()
                    ),
                });
            }
            let found = sha256_file(&from)?;
            if found != *sha {
                return Err(Error::Checksum {
                    path: from,
                    expected: sha.to_string(),
                    found,
                });
            }
            let to = dir.join(rel);
            let parent = to.parent().expect("manifest paths have a directory");
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
            crate::persist::write_atomic(&to, &bytes)?;
        }
        written += needed.len();
        on_event(FetchEvent::Installed {
            source: source.name(),
            files: needed.len(),
        });
    }
    Ok(written)
}

/// Downloads `source` into `work` and unpacks it into `work/root`.
fn download(source: &Source, work: &Path) -> Result<()> {
    match *source {
        Source::Debian { package, .. } => {
            apt_download(package, work)?;
            let deb = find_file(work, |n| n.starts_with(package) && n.ends_with(".deb"))?
                .ok_or_else(|| Error::Tool {
                    tool: "apt-get".into(),
                    reason: format!("`apt-get download {package}` produced no .deb file"),
                })?;
            let root = work.join("root");
            run(
                Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root),
                "dpkg-deb",
                "install it with `apt-get install dpkg` (Debian/Ubuntu ship it)",
            )?;
            Ok(())
        }
        Source::Sdist { requirement, .. } => {
            pip_download_unpack(work, requirement, "--no-binary=:all:", ".tar.gz", "tarfile")
        }
        Source::Wheel { requirement, .. } => {
            pip_download_unpack(work, requirement, "--only-binary=:all:", ".whl", "zipfile")
        }
    }
}

/// `pip download --no-deps BINARY_FLAG REQUIREMENT` in `work`, then the one archive ending
/// in `ext` unpacked into `work/root` with Python's `-m MODULE -e` (`zipfile` for wheels,
/// `tarfile` for source archives).
fn pip_download_unpack(
    work: &Path,
    requirement: &str,
    binary_flag: &str,
    ext: &str,
    module: &str,
) -> Result<()> {
    let python = python()?;
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                binary_flag,
                "-d",
            ])
            .arg(work)
            .arg(requirement),
        "pip",
        "install pip with `apt-get install python3-pip` (or `python3 -m ensurepip`)",
    )?;
    let archive = find_file(work, |n| n.ends_with(ext))?.ok_or_else(|| Error::Tool {
        tool: "pip".into(),
        reason: format!("`pip download {requirement}` produced no {ext} file"),
    })?;
    run(
        Command::new(&python)
            .args(["-m", module, "-e"])
            .arg(&archive)
            .arg(work.join("root")),
        &format!("python3 -m {module}"),
        "install Python 3 with `apt-get install python3`",
    )
}

/// `apt-get download PACKAGE` in `work`. When the package lists are missing (a fresh
/// container), retries with private lists updated into `work`, which needs no root.
fn apt_download(package: &str, work: &Path) -> Result<()> {
    let fix = "this data comes from Debian's archive: on Debian or Ubuntu, `apt-get` is part of the base system (install it with `dpkg -i apt_*.deb`); elsewhere copy the files into the cache directory (see data/README.md)";
    let first = run(
        Command::new("apt-get")
            .arg("download")
            .arg(package)
            .current_dir(work),
        "apt-get",
        fix,
    );
    if first.is_ok() {
        return Ok(());
    }
    if let Err(Error::Tool { reason, .. }) = &first
        && reason.contains("not found on PATH")
    {
        return first;
    }
    let lists = work.join("lists");
    std::fs::create_dir_all(lists.join("partial")).map_err(|e| Error::io(&lists, e))?;
    let opt = format!("Dir::State::Lists={}", lists.display());
    let update = run(
        Command::new("apt-get").args(["-q", "-o", &opt, "-o", "Debug::NoLocking=1", "update"]),
        "apt-get update",
        "run `apt-get update` (as root) once, then fetch again",
    );
    update.and_then(|_| {
        run(
            Command::new("apt-get")
                .args(["-o", &opt, "download", package])
                .current_dir(work),
            "apt-get",
            "run `apt-get update` (as root) once, then fetch again",
        )
    })
}

fn python() -> Result<String> {
    for candidate in ["python3", "python"] {
        if Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Ok(candidate.to_string());
        }
    }
    Err(Error::Tool {
        tool: "python3".into(),
        reason: "not found on PATH; install it with `apt-get install python3 python3-pip`".into(),
    })
}

/// Runs a command; a missing program or a failure becomes [`Error::Tool`] with `fix`.
fn run(cmd: &mut Command, tool: &str, fix: &str) -> Result<()> {
    let output = cmd.output().map_err(|e| Error::Tool {
        tool: tool.to_string(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            format!("not found on PATH; {fix}")
        } else {
            format!("cannot start: {e}")
        },
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no error message")
        .trim();
    Err(Error::Tool {
        tool: tool.to_string(),
        reason: format!("failed ({}): {last}; {fix}", output.status),
    })
}

fn find_file(dir: &Path, pred: impl Fn(&str) -> bool) -> Result<Option<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for e in entries {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        if p.file_name().is_some_and(|n| pred(&n.to_string_lossy())) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// Path of a cached file, or an error telling the user to run `classic-cv fetch-data`.
pub fn require(dir: &Path, rel: &str) -> Result<PathBuf> {
    let p = dir.join(rel);
    if p.exists() {
        Ok(p)
    } else {
        Err(Error::Tool {
            tool: "fetch-data".into(),
            reason: format!(
                "{} is missing: run `classic-cv fetch-data` (or set {CACHE_ENV} to where it was fetched)",
                p.display()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_file_has_exactly_one_source() {
        for (rel, sha) in MANIFEST {
            let n = SOURCES
                .iter()
                .filter(|s| s.files().any(|(r, _)| r == rel))
                .count();
            assert_eq!(n, 1, "{rel}");
            assert_eq!(sha.len(), 64);
        }
    }

    #[test]
    fn verify_reports_missing_and_corrupted() {
        let dir = std::env::temp_dir().join(format!("ccv-fetch-{}", std::process::id()));
        let rel = "opencv/haarcascades/haarcascade_eye.xml";
        std::fs::create_dir_all(dir.join("opencv/haarcascades")).unwrap();
        std::fs::write(dir.join(rel), b"not the cascade").unwrap();
        let states = verify(&dir).unwrap();
        let eye = states.iter().find(|(p, _)| p.ends_with(rel)).unwrap();
        assert!(matches!(eye.1, FileState::Corrupted(_)));
        assert!(
            states
                .iter()
                .filter(|(p, _)| !p.ends_with(rel))
                .all(|(_, s)| *s == FileState::Missing)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
