// BouncyCastle's independent check of the GB/T 38540 seals in an OFD that Yitong sealed: for every
// Sign_N folder, each Reference's SM3 against the file it names, SM3(Signature.xml) = dataHash, the
// signer's SM2-with-SM3 signature over TBS_Sign, the seal maker's over SES_SealInfo, and the signer
// certificate in the seal's certList. For each file argument, prints "<file> OK <signature> ..." per
// signature or "<file> FAIL <reason>" (the first failure of that file); exits 1 if any file failed.
// Compiled by tests/seal/test_ofd_bouncycastle.py into a temporary folder (never committed as a binary).
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.security.Security;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Base64;
import java.util.Enumeration;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.ASN1Sequence;
import org.bouncycastle.asn1.ASN1TaggedObject;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.crypto.digests.SM3Digest;
import org.bouncycastle.jce.provider.BouncyCastleProvider;

public class OfdSealCheck {
    static byte[] sm3(byte[] data) {
        SM3Digest digest = new SM3Digest();
        digest.update(data, 0, data.length);
        byte[] out = new byte[32];
        digest.doFinal(out, 0);
        return out;
    }

    static byte[] read(ZipFile zip, String name) throws Exception {
        ZipEntry entry = zip.getEntry(name);
        if (entry == null) throw new IllegalStateException("missing entry " + name);
        try (InputStream in = zip.getInputStream(entry)) { return in.readAllBytes(); }
    }

    static X509Certificate cert(byte[] der) throws Exception {
        return (X509Certificate) CertificateFactory.getInstance("X.509", "BC")
                .generateCertificate(new ByteArrayInputStream(der));
    }

    static boolean sm2(X509Certificate cert, byte[] data, byte[] signature) throws Exception {
        Signature verifier = Signature.getInstance("SM3withSM2", "BC");  // default user ID 1234567812345678
        verifier.initVerify(cert.getPublicKey());
        verifier.update(data);
        return verifier.verify(signature);
    }

    static final class Failure extends Exception {
        Failure(String message) { super(message); }
    }

    static void fail(String message) throws Failure {
        throw new Failure(message);
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        boolean failed = false;
        for (String file : args) {
            try {
                for (String line : check(file)) System.out.println(file + " " + line);
            } catch (Failure | RuntimeException exc) {
                System.out.println(file + " FAIL " + exc.getMessage());
                failed = true;
            }
        }
        System.exit(failed ? 1 : 0);
    }

    static java.util.List<String> check(String file) throws Exception {
        java.util.List<String> lines = new java.util.ArrayList<>();
        Pattern reference = Pattern.compile(
                "<ofd:Reference FileRef=\"/([^\"]+)\"><ofd:CheckValue>([^<]+)</ofd:CheckValue>");
        int checked = 0;
        try (ZipFile zip = new ZipFile(file)) {
            TreeMap<String, String> folders = new TreeMap<>();
            for (Enumeration<? extends ZipEntry> e = zip.entries(); e.hasMoreElements();) {
                String name = e.nextElement().getName();
                if (name.matches(".*/Signs/Sign_\\d+/Signature\\.xml")) {
                    folders.put(name, name.substring(0, name.length() - "Signature.xml".length()));
                }
            }
            for (String signatureXml : folders.keySet()) {
                String folder = folders.get(signatureXml);
                byte[] xml = read(zip, signatureXml);
                Matcher m = reference.matcher(new String(xml, "UTF-8"));
                int refs = 0;
                while (m.find()) {
                    byte[] expected = Base64.getDecoder().decode(m.group(2));
                    if (!Arrays.equals(sm3(read(zip, m.group(1))), expected)) fail(signatureXml + " reference " + m.group(1));
                    refs++;
                }
                if (refs == 0) fail(signatureXml + " has no references");
                ASN1Sequence sesSignature = ASN1Sequence.getInstance(ASN1Primitive.fromByteArray(read(zip, folder + "SignedValue.dat")));
                ASN1Sequence tbs = ASN1Sequence.getInstance(sesSignature.getObjectAt(0));
                byte[] signerDer = ASN1OctetString.getInstance(sesSignature.getObjectAt(1)).getOctets();
                String algorithm = ASN1ObjectIdentifier.getInstance(sesSignature.getObjectAt(2)).getId();
                byte[] value = DERBitString.getInstance(sesSignature.getObjectAt(3)).getBytes();
                if (!algorithm.equals("1.2.156.10197.1.501")) fail(signatureXml + " algorithm " + algorithm);
                byte[] dataHash = DERBitString.getInstance(tbs.getObjectAt(3)).getBytes();
                if (!Arrays.equals(dataHash, sm3(xml))) fail(signatureXml + " dataHash");
                X509Certificate signer = cert(signerDer);
                if (!sm2(signer, tbs.getEncoded("DER"), value)) fail(signatureXml + " SES_Signature");
                ASN1Sequence seal = ASN1Sequence.getInstance(tbs.getObjectAt(1));
                byte[] esl = read(zip, folder + "Seal.esl");
                if (!Arrays.equals(esl, seal.getEncoded("DER"))) fail(signatureXml + " Seal.esl differs from the embedded seal");
                ASN1Sequence sealInfo = ASN1Sequence.getInstance(seal.getObjectAt(0));
                X509Certificate maker = cert(ASN1OctetString.getInstance(seal.getObjectAt(1)).getOctets());
                byte[] makerValue = DERBitString.getInstance(seal.getObjectAt(3)).getBytes();
                if (!sm2(maker, sealInfo.getEncoded("DER"), makerValue)) fail(signatureXml + " SESeal maker signature");
                ASN1Sequence certList = ASN1Sequence.getInstance(ASN1Sequence.getInstance(sealInfo.getObjectAt(2)).getObjectAt(3));
                boolean listed = false;
                for (ASN1Encodable item : certList) {
                    listed |= Arrays.equals(ASN1OctetString.getInstance(item).getOctets(), signerDer);
                }
                if (!listed) fail(signatureXml + " signer not in certList");
                boolean stamped = sesSignature.size() > 4 && sesSignature.getObjectAt(4) instanceof ASN1TaggedObject;
                lines.add("OK " + signatureXml + " references=" + refs + " timestamp=" + stamped
                        + " signer=" + signer.getSubjectX500Principal().getName());
                checked++;
            }
        }
        if (checked == 0) fail("no signature");
        return lines;
    }
}
